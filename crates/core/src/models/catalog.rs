//! The catalog of whisper models `models.pull` can fetch: name, exact size and SHA-256 of
//! `ggml-<name>.bin` in the Hugging Face repository `ggerganov/whisper.cpp`, and a one-word hint
//! of what each family is for ([`hint`]).
//!
//! Where the numbers come from: the SHA-256 of a Hugging Face file is its Git LFS object id (the
//! pointer file's `oid sha256:` line, next to `size`). whisper.cpp's own `models/README.md` lists
//! SHA-1s only, so the SHA-256s and sizes below were taken from public projects that pin these
//! exact files, and only where independent ones agree. The first six (the full-precision tiny,
//! base and small): Nix `fetchurl` pins of the `.../resolve/main/ggml-<name>.bin` URLs (SRI base64
//! of the same digests; `fetchurl` fails on a mismatch, so each was checked by a real download),
//! and the model catalogs of several apps (TypeScript, Rust, Swift, C++) listing `sha256` with
//! `size_bytes` for the same URLs; the sizes also match remotion's `install-whisper-cpp` table.
//!
//! The rest (2026-12-03: the q5_1 / q8_0 variants, medium, medium.en and their q5_0, and
//! large-v3-turbo with its q5_0 / q8_0): every size and hash agrees across app catalogs that read
//! Hugging Face's LFS metadata at revision `5359861c739e955e79d9a303bcbc70fb988958b1` (which
//! `main` still serves) — `VocaHQ/vocaphone`
//! `android/app/src/main/java/com/vocahq/vocaphone/local/LocalModelCatalog.kt` @ `dacae1f`,
//! `karlockhart/obs-spectra` `plugins/spectra-speech/src/models.cpp` @ `8ad0255` (its downloader
//! checks both), `tnware/freehand-stt` `internal/managedruntime` and Kotlin, Swift and Rust
//! catalogs besides — and every hash but those of tiny-q8_0, base-q8_0, base.en-q8_0 and small-q8_0
//! is also pinned by Nix `fetchurl` (`haennes/signal-whisper` `flake.nix` @ `3bfabdd`, from
//! 2024-06; `peteonrails/voxtype` `nix/models.nix` @ `cd6d0e7`). Sizes are exact bytes; sources
//! that round them (573_571_072, 547 MiB, for large-v3-turbo-q5_0, which is 574_041_195) were
//! not used.
//! A check of our own: `hark models quantize` run on the tiny.en fixture writes files of exactly
//! the sizes listed for tiny.en-q8_0 and tiny.en-q5_1 (the CLI's quantize test asserts it).
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

const BUILTIN: [(&str, u64, &str); 25] = [
    ("tiny", 77_691_713, "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21"),
    ("tiny-q5_1", 32_152_673, "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7"),
    ("tiny-q8_0", 43_537_433, "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca"),
    ("tiny.en", 77_704_715, "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f"),
    ("tiny.en-q5_1", 32_166_155, "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b"),
    ("tiny.en-q8_0", 43_550_795, "5bc2b3860aa151a4c6e7bb095e1fcce7cf12c7b020ca08dcec0c6d018bb7dd94"),
    ("base", 147_951_465, "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe"),
    ("base-q5_1", 59_707_625, "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898"),
    ("base-q8_0", 81_768_585, "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9"),
    ("base.en", 147_964_211, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002"),
    ("base.en-q5_1", 59_721_011, "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f"),
    ("base.en-q8_0", 81_781_811, "a4d4a0768075e13cfd7e19df3ae2dbc4a68d37d36a7dad45e8410c9a34f8c87e"),
    ("small", 487_601_967, "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b"),
    ("small-q5_1", 190_085_487, "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb"),
    ("small-q8_0", 264_464_607, "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f"),
    ("small.en", 487_614_201, "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d"),
    ("small.en-q5_1", 190_098_681, "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30"),
    ("small.en-q8_0", 264_477_561, "67a179f608ea6114bd3fdb9060e762b588a3fb3bd00c4387971be4d177958067"),
    ("medium", 1_533_763_059, "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208"),
    ("medium-q5_0", 539_212_467, "19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f"),
    ("medium.en", 1_533_774_781, "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356"),
    ("medium.en-q5_0", 539_225_533, "76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0"),
    ("large-v3-turbo", 1_624_555_275, "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69"),
    ("large-v3-turbo-q5_0", 574_041_195, "394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2"),
    ("large-v3-turbo-q8_0", 874_188_075, "317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1"),
];

/// What a model of this name is for, from its family (the name up to the first `.` or `-`):
/// `"fast"` (tiny, base: real time on any CPU, rougher words), `"balanced"` (small, medium),
/// `"accurate"` (large, large-v3-turbo included: the best words, and the most compute). Models
/// of another name (an import of one's own) have none.
pub fn hint(name: &str) -> Option<&'static str> {
    match name.split(['.', '-']).next()? {
        "tiny" | "base" => Some("fast"),
        "small" | "medium" => Some("balanced"),
        "large" => Some("accurate"),
        _ => None,
    }
}

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
            // From tiny at 5 bits (31 MiB) to large-v3-turbo in f16 (1.5 GiB).
            assert!((30_000_000..1_700_000_000).contains(&e.size_bytes), "{}", e.name);
            assert!(hint(&e.name).is_some(), "{} has no hint", e.name);
        }
        for family in ["tiny", "tiny.en", "base", "base.en", "small", "small.en"] {
            for variant in ["", "-q5_1", "-q8_0"] {
                assert!(names.contains(&format!("{family}{variant}").as_str()), "{family}{variant} missing");
            }
        }
        for wanted in ["medium", "medium.en", "large-v3-turbo", "large-v3-turbo-q5_0", "large-v3-turbo-q8_0"]
        {
            assert!(names.contains(&wanted), "{wanted} missing");
        }
        // A quantized variant is smaller than its full-precision model: q5 under 45% of it, q8_0
        // under 60% (whisper.cpp keeps a few small tensors unquantized), and no two files alike.
        let size = |n: &str| catalog.iter().find(|e| e.name == n).map(|e| e.size_bytes);
        for e in &catalog {
            if let Some((base, variant)) = e.name.rsplit_once('-').filter(|(_, v)| v.starts_with('q')) {
                let full = size(base).unwrap_or_else(|| panic!("{}: no {base} in the catalog", e.name));
                let most = if variant == "q8_0" { full * 6 / 10 } else { full * 45 / 100 };
                assert!(e.size_bytes < most, "{} is {} bytes, {base} {full}", e.name, e.size_bytes);
            }
        }
        let mut hashes: Vec<&str> = catalog.iter().map(|e| e.sha256.as_str()).collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), catalog.len(), "two entries with one hash");
    }

    #[test]
    fn hints_follow_the_family() {
        assert_eq!(hint("tiny.en-q8_0"), Some("fast"));
        assert_eq!(hint("base"), Some("fast"));
        assert_eq!(hint("small.en"), Some("balanced"));
        assert_eq!(hint("medium-q5_0"), Some("balanced"));
        assert_eq!(hint("large-v3-turbo-q5_0"), Some("accurate"));
        assert_eq!(hint("mine"), None);
        assert_eq!(hint("tinyish"), None);
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
