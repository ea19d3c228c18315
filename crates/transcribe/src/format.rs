//! Transcript output formats: plain text, SubRip (SRT), WebVTT, and the JSON shape of the
//! `transcribe` method (PROTOCOL §6.3).

use crate::{Segment, Transcript};

/// `HH:MM:SS<sep>mmm`.
fn clock(ms: u64, sep: char) -> String {
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

pub fn txt(t: &Transcript) -> String {
    let mut s = t.text();
    s.push('\n');
    s
}

pub fn srt(t: &Transcript) -> String {
    let mut out = String::new();
    for (i, Segment { t0_ms, t1_ms, text }) in t.segments.iter().enumerate() {
        out += &format!("{}\n{} --> {}\n{}\n\n", i + 1, clock(*t0_ms, ','), clock(*t1_ms, ','), text.trim());
    }
    out
}

pub fn vtt(t: &Transcript) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for Segment { t0_ms, t1_ms, text } in &t.segments {
        out += &format!("{} --> {}\n{}\n\n", clock(*t0_ms, '.'), clock(*t1_ms, '.'), text.trim());
    }
    out
}

/// `{text, language, duration_ms, segments: [{t0_ms, t1_ms, text}]}` as JSON text.
pub fn json(t: &Transcript, duration_ms: u64) -> String {
    let segments: Vec<String> = t
        .segments
        .iter()
        .map(|s| format!(r#"{{"t0_ms":{},"t1_ms":{},"text":{}}}"#, s.t0_ms, s.t1_ms, quote(&s.text)))
        .collect();
    format!(
        r#"{{"text":{},"language":{},"duration_ms":{},"segments":[{}]}}"#,
        quote(&t.text()),
        quote(&t.language),
        duration_ms,
        segments.join(",")
    )
}

/// A JSON string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        Transcript {
            segments: vec![
                Segment { t0_ms: 0, t1_ms: 2_500, text: " Hello \"world\"".into() },
                Segment { t0_ms: 3_723_004, t1_ms: 3_725_000, text: "Bye.".into() },
            ],
            language: "en".into(),
        }
    }

    #[test]
    fn formats() {
        let t = sample();
        assert_eq!(txt(&t), "Hello \"world\" Bye.\n");
        assert_eq!(
            srt(&t),
            "1\n00:00:00,000 --> 00:00:02,500\nHello \"world\"\n\n2\n01:02:03,004 --> 01:02:05,000\nBye.\n\n"
        );
        assert!(vtt(&t).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n"));
        let j = json(&t, 3_725_000);
        assert!(j.starts_with(r#"{"text":"Hello \"world\" Bye.","language":"en","duration_ms":3725000,"segments":[{"t0_ms":0"#), "{j}");
        assert_eq!(quote("a\u{1}\n"), "\"a\\u0001\\n\"");
    }
}
