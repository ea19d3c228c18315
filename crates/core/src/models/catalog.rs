//! The catalog of whisper models `models.pull` can fetch: name, exact size and SHA-256 of
//! `ggml-<name>.bin` in the Hugging Face repository `ggerganov/whisper.cpp`.
//!
//! Where the numbers come from: the SHA-256 of a Hugging Face file is its Git LFS object id (the
//! pointer file's `oid sha256:` line, next to `size`). whisper.cpp's own `models/README.md` lists
//! SHA-1s only, so the SHA-256s and sizes below were taken from public projects that pin these
//! exact files, and only where independent ones agree: Nix `fetchurl` pins of the
//! `.../resolve/main/ggml-<name>.bin` URLs (SRI base64 of the same digests; `fetchurl` fails on a
//! mismatch, so each was checked by a real download), and the model catalogs of several apps
//! (TypeScript, Rust, Swift, C++) listing `sha256` with `size_bytes` for the same URLs; the sizes
//! also match remotion's `install-whisper-cpp` table. The quantized variants are left out: their
//! sizes could not be cross-checked the same way.
//!
//! Note on the test fixture: `shared/fixtures/models/ggml-tiny.en.bin` has tiny.en's exact size
//! (77,704,715 bytes, the same tensor layout) but NOT its SHA-256: it is a reconversion of the
//! same weights (see shared/fixtures/README.md), not the Hugging Face file.

/// One model the daemon can download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogEntry {
    pub name: String,
    pub size_bytes: u64,
    /// Lowercase hex.
    pub sha256: String,
}

impl CatalogEntry {
    pub fn new(name: impl Into<String>, size_bytes: u64, sha256: impl Into<String>) -> Self {
        CatalogEntry { name: name.into(), size_bytes, sha256: sha256.into().to_ascii_lowercase() }
    }
}

/// Where `ggml-<name>.bin` is fetched from unless `HARK_MODEL_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

const BUILTIN: [(&str, u64, &str); 6] = [
    ("tiny", 77_691_713, "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21"),
    ("tiny.en", 77_704_715, "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f"),
    ("base", 147_951_465, "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe"),
    ("base.en", 147_964_211, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"),
    ("small", 487_601_967, "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b"),
    ("small.en", 487_614_201, "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d"),
];

/// The built-in catalog (tests and mirrors may configure another: `DaemonConfig::model_catalog`,
/// or a file through [`parse`], which `hark serve` reads from `HARK_MODEL_CATALOG`).
pub fn builtin() -> Vec<CatalogEntry> {
    BUILTIN.iter().map(|(name, size, sha)| CatalogEntry::new(*name, *size, *sha)).collect()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    name: String,
    size_bytes: u64,
    sha256: String,
}

/// A catalog file: a JSON array of `{name, size_bytes, sha256}` (a mirror's own files, or a
/// test's). Every entry is checked: a valid model name, unique, a size above zero, 64 hex digits.
/// The error says which entry and why.
pub fn parse(text: &str) -> Result<Vec<CatalogEntry>, String> {
    let entries: Vec<FileEntry> = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON array of {{name, size_bytes, sha256}}: {e}"))?;
    let mut seen = std::collections::HashSet::new();
    let mut catalog = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        super::check_name(&e.name).map_err(|why| format!("entry {i}: {why}"))?;
        if !seen.insert(e.name.clone()) {
            return Err(format!("entry {i}: {:?} is listed twice", e.name));
        }
        if e.size_bytes == 0 {
            return Err(format!("entry {i} ({}): size_bytes must be above 0", e.name));
        }
        if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("entry {i} ({}): sha256 must be 64 hex digits", e.name));
        }
        catalog.push(CatalogEntry::new(e.name, e.size_bytes, e.sha256));
    }
    Ok(catalog)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_valid_and_hashes_well_formed() {
        let catalog = builtin();
        let mut names: Vec<&str> = catalog.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), catalog.len(), "duplicate names");
        for e in &catalog {
            assert!(super::super::check_name(&e.name).is_ok(), "{}", e.name);
            assert_eq!(e.sha256.len(), 64, "{}", e.name);
            assert!(e.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{}", e.name);
            // Every whisper model of these sizes is tens to hundreds of MB.
            assert!((70_000_000..500_000_000).contains(&e.size_bytes), "{}", e.name);
        }
        for wanted in ["tiny", "tiny.en", "base", "base.en", "small", "small.en"] {
            assert!(names.contains(&wanted), "{wanted} missing");
        }
    }

    #[test]
    fn a_catalog_file_is_checked_entry_by_entry() {
        let sha = "AB".repeat(32);
        let ok = parse(&format!(r#"[{{"name":"mirror-tiny","size_bytes":12,"sha256":"{sha}"}}]"#)).unwrap();
        assert_eq!(ok, vec![CatalogEntry::new("mirror-tiny", 12, "ab".repeat(32))]);
        assert_eq!(parse("[]").unwrap(), vec![]);
        for (bad, says) in [
            ("{}".to_string(), "JSON array"),
            (format!(r#"[{{"name":"a","size_bytes":1,"sha256":"{sha}","url":"x"}}]"#), "unknown field"),
            (format!(r#"[{{"name":"../x","size_bytes":1,"sha256":"{sha}"}}]"#), "entry 0"),
            (format!(r#"[{{"name":"a","size_bytes":0,"sha256":"{sha}"}}]"#), "size_bytes"),
            (r#"[{"name":"a","size_bytes":1,"sha256":"abc"}]"#.to_string(), "64 hex"),
            (
                format!(
                    r#"[{{"name":"a","size_bytes":1,"sha256":"{sha}"}},{{"name":"a","size_bytes":1,"sha256":"{sha}"}}]"#
                ),
                "entry 1: \"a\" is listed twice",
            ),
        ] {
            let e = parse(&bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    /// The fixture `HARK_TEST_MODEL` names tiny.en: its size must be the catalog's, and its
    /// SHA-256 either the catalog's (the Hugging Face file itself) or the documented one of the
    /// shared fixture's reconversion (see the module docs); anything else means a wrong entry.
    #[test]
    fn tiny_en_matches_the_test_model() {
        let Some(model) =
            std::env::var_os("HARK_TEST_MODEL").map(std::path::PathBuf::from).filter(|p| p.exists())
        else {
            eprintln!("skipped: HARK_TEST_MODEL is not set (the real tiny.en model)");
            return;
        };
        let entry = builtin().into_iter().find(|e| e.name == "tiny.en").unwrap();
        assert_eq!(std::fs::metadata(&model).unwrap().len(), entry.size_bytes);
        let sha = super::super::sha256_file(&model).unwrap();
        const SHARED_FIXTURE_RECONVERSION: &str =
            "25d0eb8164c94f6277b8d12c7a54e0315fc9761b294162662d6d5ad6c656eff6";
        assert!(
            sha == entry.sha256 || sha == SHARED_FIXTURE_RECONVERSION,
            "{} hashes to {sha}: neither the catalog's tiny.en nor the shared fixture",
            model.display()
        );
        if sha != entry.sha256 {
            eprintln!(
                "note: HARK_TEST_MODEL is the shared fixture's reconversion, not the Hugging Face file"
            );
        }
    }
}
