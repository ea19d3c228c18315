//! Manual probe: lists input devices, then captures N seconds from the default microphone (or
//! `system`) and prints what arrived. `cargo run -p hark-audio --features cpal --example capture_probe -- [mic|system] [seconds]`
use std::time::{Duration, Instant};

use hark_audio::source::AudioSource;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map(String::as_str).unwrap_or("mic");
    let secs: f32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let t = Instant::now();
    println!("inputs: {:?} ({:?})", hark_audio::capture::list_inputs(), t.elapsed());
    println!("system capture: {} ({:?})", hark_audio::capture::system_capture_available(), t.elapsed());
    let t = Instant::now();
    let mut src: Box<dyn AudioSource> = match kind {
        "system" => Box::new(hark_audio::capture::open_system().expect("open system")),
        _ => Box::new(hark_audio::capture::open_mic(None).expect("open mic")),
    };
    println!("opened in {:?}", t.elapsed());
    let (mut n, mut sq, mut peak) = (0usize, 0f64, 0f32);
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs_f32(secs) {
        match src.read(Duration::from_millis(100)) {
            Ok(Some(s)) => {
                n += s.len();
                sq += s.iter().map(|x| f64::from(x * x)).sum::<f64>();
                peak = s.iter().fold(peak, |p, x| p.max(x.abs()));
            }
            Ok(None) => break,
            Err(e) => {
                println!("error: {e}");
                break;
            }
        }
    }
    let rms = (sq / n.max(1) as f64).sqrt();
    println!(
        "{n} samples ({:.2} s at 16 kHz), rms {rms:.4}, peak {peak:.4}, dropped {} ms",
        n as f32 / 16000.0,
        src.dropped_ms()
    );
}
