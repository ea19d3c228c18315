//! Crash recovery (PROTOCOL §16): a meeting whose `meeting.json` still says `recording` when
//! the daemon starts was cut off by a crash. Recovery keeps everything that was written: the
//! transcript lines that verify, and the audio up to its last whole sample. Nothing is deleted:
//! lines that do not verify go to `transcript.jsonl.broken`, a WAV too short to have a header to
//! `<name>.wav.broken`.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use hark_protocol::meeting::{MeetingMetadata, MeetingStatus, Recovery, Revision};
use hark_protocol::time::now_rfc3339;

use crate::durable::{is_temp_name, open_append_private, sync_dir, write_atomic};
use crate::layout::BROKEN_SUFFIX;
use crate::meeting_files::lines;
use crate::transcript::read_transcript;
use crate::{IoContext, MeetingStore, Result, StoreError};

/// What recovery did to one meeting.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    /// The metadata as now written: status `interrupted`, counts and duration from the files.
    pub metadata: MeetingMetadata,
    /// Transcript lines that did not verify, now in `transcript.jsonl.broken`.
    pub broken_lines: usize,
    /// WAVs whose header or length was fixed.
    pub wavs_fixed: usize,
    /// WAVs too short or malformed to fix, moved aside as `<name>.wav.broken`.
    pub wavs_moved_aside: usize,
}

impl MeetingStore {
    /// Recovers meeting `id` if it was left `recording`; call it for every id at start-up,
    /// before the index is opened. For every meeting it first removes leftover temp files of
    /// interrupted atomic rewrites (the real file is still the old, complete one: the rename
    /// never happened). Meetings not `recording` need nothing else: `Ok(None)`.
    ///
    /// A missing or corrupt `meeting.json` is an error (the caller logs it and skips the
    /// meeting) and nothing in the directory is touched: a temp file may then be the only copy.
    pub fn recover(&self, id: &str) -> Result<Option<Recovered>> {
        let mut metadata = self.read_metadata(id)?;
        let dir = self.layout().meeting_dir(id);
        remove_temp_files(&dir)?;
        if metadata.status != MeetingStatus::Recording {
            return Ok(None);
        }

        // The transcript: keep the lines that verify, move the rest aside.
        let path = self.layout().transcript(id, 1);
        let read = match read_transcript(&path) {
            Ok(r) => r,
            Err(StoreError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => Default::default(),
            Err(e) => return Err(e),
        };
        if !read.bad.is_empty() || read.torn_tail {
            if !read.bad.is_empty() {
                // Written and synced before the rewrite: a crash between the two duplicates a
                // bad line at worst, never loses one.
                let broken = self.layout().broken_transcript(id);
                let mut f = open_append_private(&broken)?;
                let mut bytes = Vec::new();
                for b in &read.bad {
                    bytes.extend_from_slice(&b.raw);
                    bytes.push(b'\n');
                }
                f.write_all(&bytes).at(&broken)?;
                f.sync_all().at(&broken)?;
                sync_dir(&dir)?;
            }
            write_atomic(&path, lines(&read.segments).as_bytes())?;
        }

        // The audio: headers to the real length.
        let (mut wavs_fixed, mut wavs_moved_aside, mut audio_ms) = (0, 0, 0u64);
        let audio = self.layout().audio_dir(id);
        for wav in wav_files(&audio)? {
            match fix_wav(&wav)? {
                WavFix::Intact { duration_ms } => audio_ms = audio_ms.max(duration_ms),
                WavFix::Fixed { duration_ms } => {
                    wavs_fixed += 1;
                    audio_ms = audio_ms.max(duration_ms);
                }
                WavFix::MovedAside { to } => {
                    tracing::warn!(from = %wav.display(), to = %to.display(), "WAV too short or malformed to fix; moved aside");
                    wavs_moved_aside += 1;
                }
            }
        }

        let count = read.segments.len() as u64;
        let last_t1 = read.segments.iter().map(|s| s.t1_ms).max().unwrap_or(0);
        let now = now_rfc3339();
        let broken_lines = read.bad.len();
        metadata.status = MeetingStatus::Interrupted;
        metadata.ended_at = Some(now.clone());
        // Kept with the meeting, so a window that connects long after the `meeting.recovered`
        // event can still say what happened to it.
        metadata.recovered = Some(Recovery {
            recovered_at: now,
            broken_lines: broken_lines as u64,
            wavs_fixed: wavs_fixed as u64,
            wavs_moved_aside: wavs_moved_aside as u64,
        });
        metadata.duration_ms = metadata.duration_ms.max(audio_ms).max(last_t1);
        match metadata.revisions.iter_mut().find(|r| r.revision == 1) {
            Some(r) => r.segment_count = count,
            None => metadata.revisions.insert(
                0,
                Revision {
                    revision: 1,
                    model: metadata.model.clone(),
                    created_at: metadata.started_at.clone(),
                    segment_count: count,
                },
            ),
        }
        if metadata.revision <= 1 {
            metadata.revision = 1;
            metadata.segment_count = count;
        }
        self.write_metadata(&metadata)?;
        tracing::info!(
            meeting = id,
            segments = count,
            broken_lines,
            wavs_fixed,
            "recovered an interrupted meeting"
        );
        Ok(Some(Recovered { metadata, broken_lines, wavs_fixed, wavs_moved_aside }))
    }
}

fn remove_temp_files(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        if entry.file_name().to_str().is_some_and(is_temp_name) {
            let path = entry.path();
            tracing::info!(path = %path.display(), "removing the temp file of an interrupted rewrite");
            fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(())
}

fn wav_files(audio: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(audio) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io { path: audio.to_path_buf(), source: e }),
    };
    let mut wavs = Vec::new();
    for entry in entries {
        let path = entry.at(audio)?.path();
        if path.extension().is_some_and(|e| e == "wav") && path.is_file() {
            wavs.push(path);
        }
    }
    wavs.sort();
    Ok(wavs)
}

/// What [`fix_wav`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum WavFix {
    /// The header already matched the data.
    Intact { duration_ms: u64 },
    /// The header's sizes were set to the real data length (and a torn sample cut off).
    Fixed { duration_ms: u64 },
    /// Too short to hold a header, or not a RIFF/WAVE file we can read: renamed to `to`.
    MovedAside { to: PathBuf },
}

/// The parts of a WAV header recovery needs.
struct WavLayout {
    /// Offset of the data chunk's size field; the data starts 4 bytes later.
    data_size_at: u64,
    block_align: u16,
    byte_rate: u32,
}

/// Sets a WAV's RIFF and `data` sizes to the length of the data actually in the file, after
/// cutting off a partial last sample. A crash leaves the sizes as of the last header refresh
/// (or 0 before the first): the audio after them is real and is kept. The `data` chunk is
/// taken to run to the end of the file, as the daemon's writer (hound) puts it last.
pub fn fix_wav(path: &Path) -> Result<WavFix> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).at(path)?;
    let len = file.metadata().at(path)?.len();
    let Some(layout) = parse_wav(&mut file, len).at(path)? else {
        drop(file);
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(BROKEN_SUFFIX);
        let to = path.with_file_name(name);
        fs::rename(path, &to).at(path)?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        return Ok(WavFix::MovedAside { to });
    };
    let data_start = layout.data_size_at + 4;
    let align = u64::from(layout.block_align.max(1));
    // The RIFF size is a u32: a longer recording keeps what its sizes can describe.
    let max_data = (u64::from(u32::MAX) - (data_start - 8)) / align * align;
    let data_len = ((len - data_start) / align * align).min(max_data);
    let new_len = data_start + data_len;
    let riff_size = (new_len - 8) as u32;

    let mut head = [0u8; 4];
    file.seek(SeekFrom::Start(4)).and_then(|_| file.read_exact(&mut head)).at(path)?;
    let old_riff = u32::from_le_bytes(head);
    file.seek(SeekFrom::Start(layout.data_size_at)).and_then(|_| file.read_exact(&mut head)).at(path)?;
    let old_data = u32::from_le_bytes(head);

    let duration_ms = data_len * 1000 / u64::from(layout.byte_rate.max(1));
    if old_riff == riff_size && u64::from(old_data) == data_len && new_len == len {
        return Ok(WavFix::Intact { duration_ms });
    }
    if new_len != len {
        file.set_len(new_len).at(path)?;
    }
    file.seek(SeekFrom::Start(4)).and_then(|_| file.write_all(&riff_size.to_le_bytes())).at(path)?;
    file.seek(SeekFrom::Start(layout.data_size_at))
        .and_then(|_| file.write_all(&(data_len as u32).to_le_bytes()))
        .at(path)?;
    file.sync_all().at(path)?;
    Ok(WavFix::Fixed { duration_ms })
}

/// Walks the RIFF chunks up to `data`. `None`: not a WAV this can fix.
fn parse_wav(file: &mut File, len: u64) -> std::io::Result<Option<WavLayout>> {
    let mut riff = [0u8; 12];
    if len < 12 {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut riff)?;
    if &riff[0..4] != b"RIFF" || &riff[8..12] != b"WAVE" {
        return Ok(None);
    }
    let (mut at, mut fmt) = (12u64, None);
    while at + 8 <= len {
        let mut header = [0u8; 8];
        file.seek(SeekFrom::Start(at))?;
        file.read_exact(&mut header)?;
        let size = u64::from(u32::from_le_bytes([header[4], header[5], header[6], header[7]]));
        match &header[0..4] {
            b"fmt " => {
                if size < 16 || at + 8 + 16 > len {
                    return Ok(None);
                }
                let mut f = [0u8; 16];
                file.read_exact(&mut f)?;
                let byte_rate = u32::from_le_bytes([f[8], f[9], f[10], f[11]]);
                let block_align = u16::from_le_bytes([f[12], f[13]]);
                fmt = Some((byte_rate, block_align));
            }
            b"data" => {
                let Some((byte_rate, block_align)) = fmt else { return Ok(None) };
                if block_align == 0 || byte_rate == 0 {
                    return Ok(None);
                }
                return Ok(Some(WavLayout { data_size_at: at + 4, block_align, byte_rate }));
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        at += 8 + size + (size & 1);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting_files::tests::meta;
    use crate::transcript::tests::seg;
    use crate::transcript::{TranscriptWriter, encode_line};

    fn write_wav(path: &Path, samples: usize) {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..samples {
            w.write_sample((i % 1000) as i16).unwrap();
        }
        w.finalize().unwrap();
    }

    fn read_all(path: &Path) -> Vec<i16> {
        hound::WavReader::open(path).unwrap().samples::<i16>().map(|s| s.unwrap()).collect()
    }

    /// What a crash before the first header refresh leaves: both sizes 0.
    fn zero_sizes(path: &Path, data_size_at: u64) {
        let mut f = OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(4)).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
        f.seek(SeekFrom::Start(data_size_at)).unwrap();
        f.write_all(&0u32.to_le_bytes()).unwrap();
    }

    fn data_size_at(path: &Path) -> u64 {
        let mut f = File::open(path).unwrap();
        let len = f.metadata().unwrap().len();
        parse_wav(&mut f, len).unwrap().unwrap().data_size_at
    }

    #[test]
    fn wav_with_zero_sizes_and_a_torn_sample_is_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mic.wav");
        write_wav(&p, 16_000);
        let at = data_size_at(&p);
        zero_sizes(&p, at);
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(&[0x7f]).unwrap(); // half of one more s16 sample
        drop(f);
        assert_eq!(fix_wav(&p).unwrap(), WavFix::Fixed { duration_ms: 1000 });
        let samples = read_all(&p);
        assert_eq!(samples.len(), 16_000);
        assert_eq!(samples[999], 999);
        assert_eq!(fix_wav(&p).unwrap(), WavFix::Intact { duration_ms: 1000 });
    }

    #[test]
    fn wav_with_stale_sizes_keeps_the_audio_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("system.wav");
        write_wav(&p, 8_000);
        // Header says 8000 samples; 4000 more were written after the last refresh.
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        for i in 0..4000i16 {
            f.write_all(&i.to_le_bytes()).unwrap();
        }
        drop(f);
        assert_eq!(read_all(&p).len(), 8_000, "hound trusts the stale header");
        assert_eq!(fix_wav(&p).unwrap(), WavFix::Fixed { duration_ms: 750 });
        let samples = read_all(&p);
        assert_eq!(samples.len(), 12_000);
        assert_eq!(samples[11_999], 3999);
    }

    #[test]
    fn wav_shorter_than_a_header_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mic.wav");
        fs::write(&p, b"RIFF\0\0").unwrap();
        let to = dir.path().join("mic.wav.broken");
        assert_eq!(fix_wav(&p).unwrap(), WavFix::MovedAside { to: to.clone() });
        assert!(!p.exists());
        assert_eq!(fs::read(&to).unwrap(), b"RIFF\0\0");
    }

    /// A crashed meeting: good lines, a bad CRC in the middle, garbage, a torn last line.
    fn crashed(store: &MeetingStore) -> (Vec<String>, Vec<String>) {
        let mut m = meta("m", "Crash", "2026-01-01T00:00:00.000Z");
        m.duration_ms = 0;
        store.create(&m).unwrap();
        let l = |i| encode_line(&seg(i, &format!("line {i}")));
        let bad_crc = l(2).replace("line 2", "line X");
        let garbage = "}{ not a segment".to_string();
        let torn = l(5)[..30].to_string();
        let content = format!("{}{}{bad_crc}{}{garbage}\n{}{torn}", l(0), l(1), l(3), l(4));
        let path = store.layout().transcript("m", 1);
        fs::write(&path, content).unwrap();
        let good = [0, 1, 3, 4].iter().map(|&i| format!("line {i}")).collect();
        let bad = vec![bad_crc.trim_end().to_string(), garbage, torn];
        (good, bad)
    }

    #[test]
    fn recovery_keeps_good_lines_and_moves_bad_ones_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        let (good, bad) = crashed(&store);
        let wav = store.wav_path("m", "mic").unwrap();
        write_wav(&wav, 16_000 * 7); // 7 s: longer than the last segment's t1 (4.9 s)
        zero_sizes(&wav, data_size_at(&wav));

        let r = store.recover("m").unwrap().unwrap();
        assert_eq!(r.broken_lines, 3);
        assert_eq!(r.wavs_fixed, 1);
        assert_eq!(r.metadata.status, MeetingStatus::Interrupted);
        assert_eq!(r.metadata.segment_count, 4);
        assert_eq!(r.metadata.revisions[0].segment_count, 4);
        assert_eq!(r.metadata.duration_ms, 7000);
        assert!(r.metadata.ended_at.as_deref().is_some_and(|t| t.ends_with('Z')));
        // What was done is kept in meeting.json, for clients that connect later.
        let kept = r.metadata.recovered.clone().unwrap();
        assert_eq!((kept.broken_lines, kept.wavs_fixed, kept.wavs_moved_aside), (3, 1, 0));
        assert_eq!(Some(&kept.recovered_at), r.metadata.ended_at.as_ref());
        assert_eq!(store.read_metadata("m").unwrap(), r.metadata);

        let texts: Vec<String> = store.read_segments("m", 1).unwrap().into_iter().map(|s| s.text).collect();
        assert_eq!(texts, good);
        let clean = read_transcript(&store.layout().transcript("m", 1)).unwrap();
        assert!(clean.bad.is_empty() && !clean.torn_tail);
        let broken = fs::read_to_string(store.layout().broken_transcript("m")).unwrap();
        assert_eq!(broken, bad.iter().map(|b| format!("{b}\n")).collect::<String>());
        assert_eq!(read_all(&wav).len(), 16_000 * 7);

        // Recovered once: the meeting is interrupted now, and a second pass does nothing.
        assert_eq!(store.recover("m").unwrap(), None);
    }

    #[test]
    fn duration_falls_back_to_the_last_segment_without_audio() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        store.create(&meta("m", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        let mut w = TranscriptWriter::open_append(&store.layout().transcript("m", 1)).unwrap();
        w.append(&seg(0, "a")).unwrap();
        w.append(&seg(3, "b")).unwrap();
        drop(w);
        let r = store.recover("m").unwrap().unwrap();
        assert_eq!((r.broken_lines, r.wavs_fixed), (0, 0));
        let kept = r.metadata.recovered.as_ref().unwrap();
        assert_eq!((kept.broken_lines, kept.wavs_fixed, kept.wavs_moved_aside), (0, 0, 0));
        assert_eq!(r.metadata.duration_ms, 3900);
        assert_eq!(r.metadata.segment_count, 2);
        assert!(!store.layout().broken_transcript("m").exists(), "nothing bad, no .broken file");
    }

    #[test]
    fn leftover_metadata_temp_file_is_ignored_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        let mut m = meta("m", "Real title", "2026-01-01T00:00:00.000Z");
        m.status = MeetingStatus::Stopped;
        store.create(&m).unwrap();
        let tmp = dir.path().join("meetings/m/meeting.json.tmp4242-7");
        fs::write(&tmp, br#"{"id":"m","title":"half a rewr"#).unwrap();
        assert_eq!(store.ids().unwrap(), vec!["m".to_string()]);
        assert_eq!(store.read_metadata("m").unwrap(), m);
        assert_eq!(store.recover("m").unwrap(), None, "a stopped meeting needs nothing more");
        assert!(!tmp.exists());
        assert_eq!(store.read_metadata("m").unwrap(), m);
    }

    #[test]
    fn missing_or_corrupt_metadata_is_an_error_and_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = MeetingStore::new(dir.path());
        store.create(&meta("m", "t", "2026-01-01T00:00:00.000Z")).unwrap();
        let torn = encode_line(&seg(0, "a"))[..10].to_string();
        let transcript = store.layout().transcript("m", 1);
        fs::write(&transcript, &torn).unwrap();
        let md = store.layout().metadata("m");
        fs::write(&md, b"{corrupt").unwrap();
        let tmp = dir.path().join("meetings/m/meeting.json.tmp1-1");
        fs::write(&tmp, b"{}").unwrap();
        assert!(matches!(store.recover("m"), Err(StoreError::Corrupt { .. })));
        fs::remove_file(&md).unwrap();
        assert!(matches!(store.recover("m"), Err(StoreError::NotFound(_))));
        assert!(tmp.exists());
        assert_eq!(fs::read_to_string(&transcript).unwrap(), torn);
        assert!(!store.layout().broken_transcript("m").exists());
    }
}
