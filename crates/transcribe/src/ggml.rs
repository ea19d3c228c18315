//! Reads a whisper ggml model file's structure (header, mel filters, vocabulary, every tensor's
//! header) without loading it, and checks that the tensor data adds up to exactly the file's
//! length. whisper.cpp may abort the process on a truncated or foreign file; a file that passes
//! here has the shape whisper.cpp expects. Also tells a real model from a weightless one.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use crate::TranscribeError;

const MAGIC: u32 = 0x6767_6d6c; // "ggml"

/// What a model file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `tiny`, `base`, `small`, `medium`, `large` (from the encoder's depth), `.en` when
    /// English-only.
    pub name: String,
    pub english_only: bool,
    pub n_vocab: i32,
    pub n_audio_layer: i32,
    pub n_mels: i32,
    pub tensors: usize,
    pub bytes: u64,
}

fn bad(path: &Path, reason: impl Into<String>) -> TranscribeError {
    TranscribeError::BadModel { path: path.display().to_string(), reason: reason.into() }
}

/// Bytes per block and elements per block of the ggml tensor types whisper models use.
fn type_size(ttype: i32) -> Option<(u64, u64)> {
    Some(match ttype {
        0 => (4, 1),   // f32
        1 => (2, 1),   // f16
        2 => (18, 32), // q4_0
        3 => (20, 32), // q4_1
        6 => (22, 32), // q5_0
        7 => (24, 32), // q5_1
        8 => (34, 32), // q8_0
        _ => return None,
    })
}

struct Reader<R> {
    inner: R,
    pos: u64,
    len: u64,
}

impl<R: Read + Seek> Reader<R> {
    fn i32(&mut self) -> std::io::Result<i32> {
        let mut b = [0u8; 4];
        self.inner.read_exact(&mut b)?;
        self.pos += 4;
        Ok(i32::from_le_bytes(b))
    }

    /// Skips `n` bytes, failing if the file is shorter.
    fn skip(&mut self, n: u64) -> std::io::Result<()> {
        if self.pos.checked_add(n).is_none_or(|end| end > self.len) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.inner.seek(SeekFrom::Current(n as i64))?;
        self.pos += n;
        Ok(())
    }
}

/// Walks the whole file. Errors name what is wrong in words a person can act on.
pub fn inspect(path: &Path) -> Result<ModelInfo, TranscribeError> {
    let file = File::open(path).map_err(|e| bad(path, format!("cannot open it: {e}")))?;
    let len = file.metadata().map_err(|e| bad(path, e.to_string()))?.len();
    let mut r = Reader { inner: BufReader::new(file), pos: 0, len };
    let truncated = |what: &str| bad(path, format!("truncated (the file ends inside the {what})"));
    let magic = r.i32().map_err(|_| bad(path, "not a whisper ggml model (too short)"))? as u32;
    if magic != MAGIC {
        return Err(bad(path, "not a whisper ggml model (wrong magic number)"));
    }
    let mut hp = [0i32; 11];
    for v in &mut hp {
        *v = r.i32().map_err(|_| truncated("header"))?;
    }
    let [n_vocab, _, _, _, n_audio_layer, _, _, _, _, n_mels, _ftype] = hp;
    if !(1..=1_000_000).contains(&n_vocab)
        || !(1..=256).contains(&n_mels)
        || !(1..=64).contains(&n_audio_layer)
    {
        return Err(bad(path, "not a whisper ggml model (implausible header)"));
    }
    let (n_mel, n_fft) =
        (r.i32().map_err(|_| truncated("mel filters"))?, r.i32().map_err(|_| truncated("mel filters"))?);
    if !(0..=1024).contains(&n_mel) || !(0..=4096).contains(&n_fft) {
        return Err(bad(path, "not a whisper ggml model (implausible mel filters)"));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4).map_err(|_| truncated("mel filters"))?;
    let words = r.i32().map_err(|_| truncated("vocabulary"))?;
    if !(0..=1_000_000).contains(&words) {
        return Err(bad(path, "not a whisper ggml model (implausible vocabulary)"));
    }
    for _ in 0..words {
        let n = r.i32().map_err(|_| truncated("vocabulary"))?;
        if !(0..=1024).contains(&n) {
            return Err(bad(path, "not a whisper ggml model (corrupt vocabulary)"));
        }
        r.skip(n as u64).map_err(|_| truncated("vocabulary"))?;
    }
    let mut tensors = 0;
    while r.pos < r.len {
        let n_dims = r.i32().map_err(|_| truncated("tensors"))?;
        let name_len = r.i32().map_err(|_| truncated("tensors"))?;
        let ttype = r.i32().map_err(|_| truncated("tensors"))?;
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(bad(path, format!("corrupt tensor header (tensor {tensors})")));
        }
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let ne = r.i32().map_err(|_| truncated("tensors"))?;
            if ne < 1 {
                return Err(bad(path, format!("corrupt tensor shape (tensor {tensors})")));
            }
            elements = elements.saturating_mul(ne as u64);
        }
        r.skip(name_len as u64).map_err(|_| truncated("tensors"))?;
        let (block_bytes, block_elems) =
            type_size(ttype).ok_or_else(|| bad(path, format!("unsupported tensor type {ttype}")))?;
        r.skip(elements.div_ceil(block_elems).saturating_mul(block_bytes))
            .map_err(|_| truncated("tensor data"))?;
        tensors += 1;
    }
    if tensors == 0 {
        return Err(bad(path, "has a model header but no weights (a test stub, not a real model)"));
    }
    let size = match n_audio_layer {
        4 => "tiny",
        6 => "base",
        12 => "small",
        24 => "medium",
        32 => "large",
        _ => "unknown",
    };
    let english_only = n_vocab == 51_864;
    let name = if english_only { format!("{size}.en") } else { size.to_string() };
    Ok(ModelInfo { name, english_only, n_vocab, n_audio_layer, n_mels, tensors, bytes: len })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::fixtures::shared_model as fixture;

    #[test]
    fn weightless_and_foreign_files_are_refused_with_reasons() {
        let dir = std::env::temp_dir().join(format!("hark-ggml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let foreign = dir.join("foreign.bin");
        std::fs::write(&foreign, b"PK\x03\x04 definitely a zip").unwrap();
        assert!(inspect(&foreign).unwrap_err().to_string().contains("not a whisper ggml model"));
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        assert!(inspect(&empty).is_err());
        assert!(inspect(&dir.join("missing.bin")).unwrap_err().to_string().contains("cannot open"));
        if let Some(stub) = fixture("for-tests-ggml-tiny.en.bin") {
            let e = inspect(&stub).unwrap_err().to_string();
            assert!(e.contains("no weights"), "{e}");
        } else {
            eprintln!("skipped the weightless-model case: shared/fixtures/models is absent");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_real_model_passes_and_a_truncated_copy_does_not() {
        let Some(model) = crate::fixtures::model() else { return };
        let info = inspect(&model).unwrap();
        assert_eq!((info.name.as_str(), info.tensors), ("tiny.en", 167));
        let dir = std::env::temp_dir().join(format!("hark-ggml-t-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cut = dir.join("cut.bin");
        let bytes = std::fs::read(&model).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
        let e = inspect(&cut).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
