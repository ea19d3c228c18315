//! `hark-bench-ct2 MODEL_DIR WAV RUNS THREADS`: loads a CTranslate2 Whisper model (int8),
//! transcribes WAV (16 kHz mono s16) RUNS times greedily in English, and prints one line per run:
//! wall seconds, CPU seconds of the process, the text. Audio longer than 30 s is cut into fixed
//! 30 s windows, each decoded alone, one after another (no seeking, no carried text): given the
//! whole of a 92 s recording at once, ct2rs's `generate` (which batches the windows) returned
//! one phrase repeated (WER 0.96).

use std::time::Instant;

use anyhow::{Context, bail};
use ct2rs::{ComputeType, Config, Whisper, WhisperOptions};

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 a second on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn read_wav(path: &str) -> anyhow::Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    if bytes.len() < 44 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("{path}: not a WAV file");
    }
    // Walk the chunks to "data"; the format must be 16-bit mono at 16 kHz.
    let (mut at, mut format_ok) = (12, false);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into()?) as usize;
        let body = &bytes[at + 8..(at + 8 + len).min(bytes.len())];
        if id == b"fmt " && body.len() >= 16 {
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes(body[4..8].try_into()?);
            let bits = u16::from_le_bytes([body[14], body[15]]);
            format_ok = channels == 1 && rate == 16_000 && bits == 16;
        } else if id == b"data" {
            if !format_ok {
                bail!("{path}: not 16 kHz mono 16-bit");
            }
            return Ok(body
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]) as f32 / 32768.0)
                .collect());
        }
        at += 8 + len + (len & 1);
    }
    bail!("{path}: no data chunk")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, wav, runs, threads] = args.as_slice() else {
        bail!("usage: hark-bench-ct2 MODEL_DIR WAV RUNS THREADS");
    };
    let (runs, threads): (usize, usize) = (runs.parse()?, threads.parse()?);
    let audio = read_wav(wav)?;
    let config =
        Config { compute_type: ComputeType::INT8, num_threads_per_replica: threads, ..Default::default() };
    let t = Instant::now();
    let whisper = Whisper::new(model, config)?;
    eprintln!("loaded {model} in {:.3} s", t.elapsed().as_secs_f64());
    let options = WhisperOptions { beam_size: 1, ..Default::default() };
    for _ in 0..runs {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let mut text = String::new();
        for window in audio.chunks(whisper.n_samples()) {
            for piece in whisper.generate(window, Some("en"), false, &options)? {
                text.push_str(piece.trim());
                text.push(' ');
            }
        }
        println!("{:.3}\t{:.2}\t{}", t.elapsed().as_secs_f64(), cpu_seconds() - cpu, text.trim());
    }
    Ok(())
}
