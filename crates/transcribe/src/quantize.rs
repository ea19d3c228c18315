//! Writes a quantized copy of a whisper ggml model (`hark models quantize`), with ggml's own
//! quantizer, so the result is what whisper.cpp's `quantize` tool would write and what its
//! loader expects.
//!
//! Which tensors are quantized follows whisper.cpp's loader, which creates every tensor with a
//! fixed type and refuses a file whose tensor sizes disagree: the 2-D weight matrices (attention,
//! MLP, token embedding) take the model's weight type; the positional embeddings and the
//! convolution biases (2-D too, shaped `[1, n]`) stay f32, the 3-D convolution kernels f16, the
//! 1-D norms and biases f32. The header's `ftype` becomes ggml's quantization version times 1000
//! plus the file type (`2 * 1000 + 7` for q8_0), which is how the loader learns the weight type.
//!
//! The source is checked whole first ([`ggml::inspect`]: a truncated, foreign or weightless file
//! is refused before anything is written), must be f16 or f32 (quantizing twice loses more than
//! once), and the copy is written to a temporary file beside the destination, checked again, and
//! only then linked into place (a hard link, which unlike a rename never replaces a file).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::TranscribeError;
use crate::ggml;

/// ggml's quantization format version (`GGML_QNT_VERSION`) and the factor the header's
/// `ftype` carries it with (`GGML_QNT_VERSION_FACTOR`).
const QNT_VERSION: i32 = 2;
const QNT_VERSION_FACTOR: i32 = 1000;

/// The quantized types offered (the ones whisper.cpp publishes models in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantType {
    Q8_0,
    Q5_0,
    Q5_1,
}

impl QuantType {
    pub const ALL: [QuantType; 3] = [QuantType::Q8_0, QuantType::Q5_0, QuantType::Q5_1];

    pub fn as_str(self) -> &'static str {
        match self {
            QuantType::Q8_0 => "q8_0",
            QuantType::Q5_0 => "q5_0",
            QuantType::Q5_1 => "q5_1",
        }
    }

    /// The tensor type (`ggml_type`).
    fn tensor_type(self) -> i32 {
        match self {
            QuantType::Q8_0 => 8,
            QuantType::Q5_0 => 6,
            QuantType::Q5_1 => 7,
        }
    }

    /// The file type (`ggml_ftype`: `GGML_FTYPE_MOSTLY_*`), which is not the tensor type.
    fn file_type(self) -> i32 {
        match self {
            QuantType::Q8_0 => 7,
            QuantType::Q5_0 => 8,
            QuantType::Q5_1 => 9,
        }
    }
}

impl std::str::FromStr for QuantType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        QuantType::ALL.into_iter().find(|q| q.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            let known: Vec<&str> = QuantType::ALL.iter().map(|q| q.as_str()).collect();
            format!("unknown quantization {s:?} (one of {})", known.join(", "))
        })
    }
}

impl std::fmt::Display for QuantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The source is not a complete whisper model (its own words).
    #[error(transparent)]
    Source(#[from] TranscribeError),
    #[error("{0} is already quantized (type {1}): quantize the f16 or f32 original instead")]
    AlreadyQuantized(String, i32),
    #[error("{0} exists already: remove it first or choose another name")]
    Exists(String),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: tensor {name} cannot be quantized: {why}")]
    Tensor { path: String, name: String, why: String },
}

/// What a quantization did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quantized {
    pub path: PathBuf,
    /// Tensors written in the quantized type / copied as they were.
    pub quantized: usize,
    pub kept: usize,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Tensors the loader creates 2-D but in f32 whatever the weight type.
const ALWAYS_F32: [&str; 4] = [
    "encoder.positional_embedding",
    "decoder.positional_embedding",
    "encoder.conv1.bias",
    "encoder.conv2.bias",
];

/// Quantizes `src` into a new file `dst` (never replaced).
pub fn quantize(src: &Path, dst: &Path, to: QuantType) -> Result<Quantized, QuantizeError> {
    let info = ggml::inspect(src)?;
    if dst.exists() {
        return Err(QuantizeError::Exists(dst.display().to_string()));
    }
    let file_name = dst.file_name().and_then(|f| f.to_str()).unwrap_or("model");
    let tmp = dst.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = write_quantized(src, &tmp, to).and_then(|(quantized, kept)| {
        // The copy must pass the same check as any model before it is installed.
        ggml::inspect(&tmp)?;
        // A hard link never replaces an existing file (a rename would).
        std::fs::hard_link(&tmp, dst).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                QuantizeError::Exists(dst.display().to_string())
            } else {
                QuantizeError::Write { path: dst.display().to_string(), source: e }
            }
        })?;
        let bytes_out = std::fs::metadata(dst).map(|m| m.len()).unwrap_or(0);
        Ok(Quantized { path: dst.to_path_buf(), quantized, kept, bytes_in: info.bytes, bytes_out })
    });
    let _ = std::fs::remove_file(&tmp);
    result
}

fn write_quantized(src: &Path, tmp: &Path, to: QuantType) -> Result<(usize, usize), QuantizeError> {
    let shown = src.display().to_string();
    let read_err = |e: std::io::Error| QuantizeError::Read { path: shown.clone(), source: e };
    let write_err = |e: std::io::Error| QuantizeError::Write { path: tmp.display().to_string(), source: e };
    let mut r = BufReader::with_capacity(1 << 20, File::open(src).map_err(read_err)?);
    let out = File::create_new(tmp).map_err(write_err)?;
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let i32s = |r: &mut BufReader<File>, n: usize| -> Result<Vec<i32>, QuantizeError> {
        let mut b = vec![0u8; n * 4];
        r.read_exact(&mut b).map_err(read_err)?;
        Ok(b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    };
    let put = |w: &mut BufWriter<File>, v: &[i32]| -> Result<(), QuantizeError> {
        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        w.write_all(&bytes).map_err(write_err)
    };
    let copy = |r: &mut BufReader<File>, w: &mut BufWriter<File>, n: u64| -> Result<(), QuantizeError> {
        let copied = std::io::copy(&mut r.by_ref().take(n), w).map_err(write_err)?;
        if copied != n {
            return Err(read_err(std::io::ErrorKind::UnexpectedEof.into()));
        }
        Ok(())
    };

    // Magic and the 11 hyperparameters; the last is the file type.
    let mut header = i32s(&mut r, 12)?;
    let ftype = header[11] % QNT_VERSION_FACTOR;
    if !matches!(ftype, 0 | 1) {
        return Err(QuantizeError::AlreadyQuantized(shown.clone(), ftype));
    }
    header[11] = QNT_VERSION * QNT_VERSION_FACTOR + to.file_type();
    put(&mut w, &header)?;
    // Mel filters, then the vocabulary: copied as they are.
    let mel = i32s(&mut r, 2)?;
    put(&mut w, &mel)?;
    copy(&mut r, &mut w, mel[0] as u64 * mel[1] as u64 * 4)?;
    let words = i32s(&mut r, 1)?;
    put(&mut w, &words)?;
    for _ in 0..words[0] {
        let len = i32s(&mut r, 1)?;
        put(&mut w, &len)?;
        copy(&mut r, &mut w, len[0] as u64)?;
    }

    let (mut quantized, mut kept) = (0, 0);
    loop {
        // `inspect` walked the same file: every tensor header below is well formed and complete.
        let mut first = [0u8; 4];
        match r.read(&mut first).map_err(read_err)? {
            0 => break,
            n if n < 4 => r.read_exact(&mut first[n..]).map_err(read_err)?,
            _ => {}
        }
        let n_dims = i32::from_le_bytes(first);
        let [name_len, ttype] = i32s(&mut r, 2)?[..] else { unreachable!("two values read") };
        let ne = i32s(&mut r, n_dims as usize)?;
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name).map_err(read_err)?;
        let name_str = String::from_utf8_lossy(&name).into_owned();
        let elements: u64 = ne.iter().map(|&n| n as u64).product();
        let quantize = n_dims == 2 && !ALWAYS_F32.contains(&name_str.as_str());
        let data_bytes = match ttype {
            0 => elements * 4,
            1 => elements * 2,
            // A quantized tensor in an f16 or f32 file: not one whisper.cpp wrote.
            other => {
                return Err(QuantizeError::AlreadyQuantized(format!("{shown} (tensor {name_str})"), other));
            }
        };
        if !quantize {
            put(&mut w, &[n_dims, name_len, ttype])?;
            put(&mut w, &ne)?;
            w.write_all(&name).map_err(write_err)?;
            copy(&mut r, &mut w, data_bytes)?;
            kept += 1;
            continue;
        }
        let mut raw = vec![0u8; data_bytes as usize];
        r.read_exact(&mut raw).map_err(read_err)?;
        let values: Vec<f32> = if ttype == 0 {
            raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        } else {
            let halves: Vec<u16> = raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            ffi::f16_to_f32(&halves)
        };
        let packed = ffi::quantize_rows(to, &values, ne[0] as usize)
            .map_err(|why| QuantizeError::Tensor { path: shown.clone(), name: name_str.clone(), why })?;
        put(&mut w, &[n_dims, name_len, to.tensor_type()])?;
        put(&mut w, &ne)?;
        w.write_all(&name).map_err(write_err)?;
        w.write_all(&packed).map_err(write_err)?;
        quantized += 1;
    }
    let file = w.into_inner().map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok((quantized, kept))
}

/// The two calls into ggml, behind safe functions that check every length they pass.
#[allow(unsafe_code)]
mod ffi {
    use super::QuantType;

    /// IEEE half floats to f32 (ggml's own conversion, so values match its loader's).
    pub fn f16_to_f32(halves: &[u16]) -> Vec<f32> {
        let mut out = vec![0f32; halves.len()];
        // SAFETY: ggml_fp16_t is a u16; both buffers hold `halves.len()` elements, and ggml
        // reads and writes exactly that many.
        unsafe {
            whisper_rs_sys::ggml_fp16_to_fp32_row(
                halves.as_ptr().cast(),
                out.as_mut_ptr(),
                halves.len() as i64,
            )
        };
        out
    }

    /// Quantizes rows of `n_per_row` values; `values.len()` must be a whole number of rows and
    /// a row a whole number of the type's blocks.
    pub fn quantize_rows(to: QuantType, values: &[f32], n_per_row: usize) -> Result<Vec<u8>, String> {
        let ttype = to.tensor_type() as whisper_rs_sys::ggml_type;
        // SAFETY: plain lookups in ggml's type table for a valid type.
        let (block, row_bytes) = unsafe {
            (whisper_rs_sys::ggml_blck_size(ttype), whisper_rs_sys::ggml_row_size(ttype, n_per_row as i64))
        };
        if n_per_row == 0 || !values.len().is_multiple_of(n_per_row) {
            return Err(format!("{} values are not whole rows of {n_per_row}", values.len()));
        }
        if block <= 0 || !n_per_row.is_multiple_of(block as usize) {
            return Err(format!("rows of {n_per_row} are not whole blocks of {block} ({to})"));
        }
        let rows = values.len() / n_per_row;
        let mut out = vec![0u8; rows * row_bytes];
        // SAFETY: `values` holds rows * n_per_row f32s; `out` holds rows * row_size bytes, what
        // ggml writes for that many rows of this type (it returns the count, checked below); no
        // importance matrix (null), which these types do not need.
        let written = unsafe {
            whisper_rs_sys::ggml_quantize_chunk(
                ttype,
                values.as_ptr(),
                out.as_mut_ptr().cast(),
                0,
                rows as i64,
                n_per_row as i64,
                std::ptr::null(),
            )
        };
        if written != out.len() {
            return Err(format!("ggml wrote {written} bytes, expected {}", out.len()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_refused() {
        assert_eq!("q8_0".parse::<QuantType>().unwrap(), QuantType::Q8_0);
        assert_eq!(" Q5_1 ".parse::<QuantType>().unwrap(), QuantType::Q5_1);
        let e = "q4_k".parse::<QuantType>().unwrap_err();
        assert!(e.contains("q8_0, q5_0, q5_1"), "{e}");
    }

    #[test]
    fn quantized_rows_round_trip_close_and_bad_shapes_are_refused() {
        let values: Vec<f32> = (0..64 * 4).map(|i| ((i as f32) * 0.37).sin()).collect();
        let packed = ffi::quantize_rows(QuantType::Q8_0, &values, 64).unwrap();
        // q8_0: 34 bytes per block of 32 values.
        assert_eq!(packed.len(), 4 * 2 * 34);
        // Each block: an f16 scale, then 32 signed bytes; rebuild and compare.
        for (b, block) in packed.chunks_exact(34).enumerate() {
            let scale = ffi::f16_to_f32(&[u16::from_le_bytes([block[0], block[1]])])[0];
            for (i, &q) in block[2..].iter().enumerate() {
                let got = q as i8 as f32 * scale;
                let want = values[b * 32 + i];
                // Half a step of rounding, plus the scale's own f16 rounding times up to 127.
                assert!((got - want).abs() <= scale.abs() * 0.6, "block {b} value {i}: {got} vs {want}");
            }
        }
        assert!(ffi::quantize_rows(QuantType::Q8_0, &values, 16).unwrap_err().contains("blocks"));
        assert!(ffi::quantize_rows(QuantType::Q5_0, &values[..100], 64).unwrap_err().contains("rows"));
        assert_eq!(ffi::f16_to_f32(&[0x3c00, 0xc000, 0x0000]), vec![1.0, -2.0, 0.0]);
    }

    #[test]
    fn weightless_truncated_and_existing_files_are_clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let foreign = dir.join("foreign.bin");
        std::fs::write(&foreign, b"PK\x03\x04 not a model").unwrap();
        let e = quantize(&foreign, &dir.join("out.bin"), QuantType::Q8_0).unwrap_err().to_string();
        assert!(e.contains("not a whisper ggml model"), "{e}");
        if let Some(stub) = crate::fixtures::shared_model("for-tests-ggml-tiny.en.bin") {
            let e = quantize(&stub, &dir.join("out.bin"), QuantType::Q8_0).unwrap_err().to_string();
            assert!(e.contains("no weights"), "{e}");
        } else {
            eprintln!("skipped the weightless case: shared/fixtures/models is absent");
        }
        if let Some(model) = crate::fixtures::model() {
            let bytes = std::fs::read(&model).unwrap();
            let cut = dir.join("cut.bin");
            std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
            let e = quantize(&cut, &dir.join("out.bin"), QuantType::Q8_0).unwrap_err().to_string();
            assert!(e.contains("truncated"), "{e}");
            let taken = dir.join("taken.bin");
            std::fs::write(&taken, b"mine").unwrap();
            let e = quantize(&model, &taken, QuantType::Q8_0).unwrap_err().to_string();
            assert!(e.contains("exists already"), "{e}");
            assert_eq!(std::fs::read(&taken).unwrap(), b"mine", "an existing file is never touched");
        }
        assert!(!dir.join("out.bin").exists(), "nothing is left behind by a refused quantize");
        let leftovers: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn the_real_model_quantized_to_q8_0_is_smaller_and_still_word_for_word() {
        use crate::{Options, Transcriber};
        let Some(model) = crate::fixtures::model() else { return };
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let out = dir.join("ggml-tiny.en-q8_0.bin");
        let q = quantize(&model, &out, QuantType::Q8_0).unwrap();
        // tiny.en: 4 + 4 layers of 6 and 10 weight matrices, plus the token embedding.
        assert_eq!((q.quantized, q.quantized + q.kept), (4 * 6 + 4 * 10 + 1, 167), "{q:?}");
        assert!(q.bytes_out < q.bytes_in * 6 / 10, "q8_0 is not smaller: {q:?}");
        let again = quantize(&out, &dir.join("twice.bin"), QuantType::Q5_0).unwrap_err().to_string();
        assert!(again.contains("already quantized"), "{again}");
        let t = crate::whisper::WhisperTranscriber::load(&out).unwrap();
        let text = t
            .transcribe(&crate::fixtures::jfk(), &Options { threads: 2, ..Options::default() })
            .unwrap()
            .text();
        assert_eq!(crate::text::words(&text), crate::text::words(crate::fixtures::JFK_TEXT), "{text}");
    }
}
