//! The one transcript formatter: plain text, SubRip (SRT), WebVTT and JSON, for `hark
//! transcribe` (generic, unlabelled [`Cue`]s) and for `meeting.export` (PROTOCOL §7, segments
//! labelled by who spoke, plus Markdown).
//!
//! Cue text is made safe for its format rather than trusted: trimmed, its line breaks folded
//! into spaces (a blank line would end an SRT or VTT cue early, and one cue per line keeps txt
//! and md readable), `-->` never left in a cue (it is what marks a timing line), and in VTT `&`,
//! `<` and `>` written as character references (VTT cue text is markup). A cue left with no
//! text is skipped in SRT and VTT (an empty payload is not a valid cue).

use hark_protocol::meeting::{ExportFormat, MeetingMetadata, Segment};
use serde::Serialize;

/// One timed piece of text, labelled with its speaker when there is one to tell apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cue {
    pub t0_ms: u64,
    pub t1_ms: u64,
    pub text: String,
    pub label: Option<String>,
}

impl Cue {
    /// An unlabelled cue (`hark transcribe`).
    pub fn new(t0_ms: u64, t1_ms: u64, text: impl Into<String>) -> Self {
        Cue { t0_ms, t1_ms, text: text.into(), label: None }
    }
}

/// `HH:MM:SS<sep>mmm` (hours keep counting past 99).
pub fn clock(ms: u64, sep: char) -> String {
    format!("{}{sep}{:03}", hms(ms), ms % 1000)
}

/// `HH:MM:SS`.
/// `HH:MM:SS` of a time in ms (the time stamps of txt and md exports, and the CLI's).
pub fn hms(ms: u64) -> String {
    format!("{:02}:{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60)
}

/// Trimmed, each run of line breaks (with the spaces around it) one space.
fn one_line(text: &str) -> String {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// For SRT: no timing-line marker inside a cue.
fn no_arrow(text: &str) -> String {
    let mut s = text.to_string();
    while s.contains("-->") {
        s = s.replace("-->", "->");
    }
    s
}

/// For VTT cue text and voice annotations: markup characters as references (so no `-->`).
fn vtt_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The cues' text joined with single spaces: what the `transcribe` method calls `text`.
pub fn plain_text(cues: &[Cue]) -> String {
    cues.iter().map(|c| one_line(&c.text)).filter(|t| !t.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Unlabelled cues: their text joined with single spaces, one line. With labels: one line per
/// cue, `label: text`.
pub fn txt(cues: &[Cue]) -> String {
    if cues.iter().all(|c| c.label.is_none()) {
        return plain_text(cues) + "\n";
    }
    let mut out = String::new();
    for c in cues {
        let text = one_line(&c.text);
        if text.is_empty() {
            continue;
        }
        match &c.label {
            Some(label) => out += &format!("{}: {text}\n", one_line(label)),
            None => out += &format!("{text}\n"),
        }
    }
    out
}

/// SubRip: cues numbered from 1, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, a labelled cue as
/// `label: text`, a blank line after each.
pub fn srt(cues: &[Cue]) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in cues {
        let text = no_arrow(&one_line(&c.text));
        if text.is_empty() {
            continue;
        }
        n += 1;
        let text = match &c.label {
            Some(label) => format!("{}: {text}", no_arrow(&one_line(label))),
            None => text,
        };
        out += &format!("{n}\n{} --> {}\n{text}\n\n", clock(c.t0_ms, ','), clock(c.t1_ms, ','));
    }
    out
}

/// WebVTT: the `WEBVTT` header, `HH:MM:SS.mmm --> HH:MM:SS.mmm`, a labelled cue as a voice
/// span `<v label>text`, a blank line after each.
pub fn vtt(cues: &[Cue]) -> String {
    let mut out = String::from("WEBVTT\n\n");
    for c in cues {
        let text = vtt_escape(&one_line(&c.text));
        if text.is_empty() {
            continue;
        }
        let text = match &c.label {
            Some(label) => format!("<v {}>{text}", vtt_escape(&one_line(label))),
            None => text,
        };
        out += &format!("{} --> {}\n{text}\n\n", clock(c.t0_ms, '.'), clock(c.t1_ms, '.'));
    }
    out
}

/// The `transcribe` method's result as JSON text (PROTOCOL §6.3):
/// `{text, language, duration_ms, segments: [{t0_ms, t1_ms, text}]}`, on one line.
pub fn transcribe_json(cues: &[Cue], language: &str, duration_ms: u64) -> String {
    let segments: Vec<String> = cues
        .iter()
        .map(|c| format!(r#"{{"t0_ms":{},"t1_ms":{},"text":{}}}"#, c.t0_ms, c.t1_ms, quote(&c.text)))
        .collect();
    format!(
        r#"{{"text":{},"language":{},"duration_ms":{},"segments":[{}]}}"#,
        quote(&plain_text(cues)),
        quote(language),
        duration_ms,
        segments.join(",")
    )
}

/// A JSON string literal (kept byte-for-byte as `hark transcribe` has always written it).
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

/// The speaker label of each segment: its role unless that is `unknown`, else its source's
/// name. A meeting with a single source of unknown role has nobody to tell apart: no labels.
fn labels_for(metadata: &MeetingMetadata) -> impl Fn(&Segment) -> Option<String> + use<> {
    let unlabelled = matches!(metadata.sources.as_slice(), [only] if only.role == "unknown");
    move |s: &Segment| {
        if unlabelled {
            None
        } else if s.role != "unknown" {
            Some(s.role.clone())
        } else {
            Some(s.source.clone())
        }
    }
}

/// A meeting's segments as labelled cues, in time order (sources interleave by when their
/// speech ended, SRT and VTT want cues by start; ties by `seq`).
pub fn meeting_cues(metadata: &MeetingMetadata, segments: &[Segment]) -> Vec<Cue> {
    let label = labels_for(metadata);
    let mut ordered: Vec<&Segment> = segments.iter().collect();
    ordered.sort_by_key(|s| (s.t0_ms, s.seq));
    ordered
        .into_iter()
        .map(|s| Cue { t0_ms: s.t0_ms, t1_ms: s.t1_ms, text: s.text.clone(), label: label(s) })
        .collect()
}

/// `meeting.export`'s content.
pub fn export(metadata: &MeetingMetadata, segments: &[Segment], format: ExportFormat) -> String {
    match format {
        ExportFormat::Md => markdown(metadata, &meeting_cues(metadata, segments)),
        ExportFormat::Txt => timestamped_lines(&meeting_cues(metadata, segments)),
        ExportFormat::Srt => srt(&meeting_cues(metadata, segments)),
        ExportFormat::Vtt => vtt(&meeting_cues(metadata, segments)),
        ExportFormat::Json => {
            #[derive(Serialize)]
            struct Export<'a> {
                metadata: &'a MeetingMetadata,
                segments: &'a [Segment],
            }
            // Infallible: structs of strings, numbers and lists. Segments as stored, unedited.
            serde_json::to_string_pretty(&Export { metadata, segments }).expect("export serializes") + "\n"
        }
    }
}

/// `[HH:MM:SS] label: text`, one line per cue.
fn timestamped_lines(cues: &[Cue]) -> String {
    let mut out = String::new();
    for c in cues {
        let text = one_line(&c.text);
        if text.is_empty() {
            continue;
        }
        match &c.label {
            Some(label) => out += &format!("[{}] {}: {text}\n", hms(c.t0_ms), one_line(label)),
            None => out += &format!("[{}] {text}\n", hms(c.t0_ms)),
        }
    }
    out
}

/// `# title`, a line with date, duration and sources, then a paragraph per cue:
/// `**[HH:MM:SS] label:** text`.
fn markdown(m: &MeetingMetadata, cues: &[Cue]) -> String {
    let title = one_line(&m.title);
    let title = if title.is_empty() { m.id.as_str() } else { title.as_str() };
    let sources: Vec<String> = m
        .sources
        .iter()
        .map(
            |s| if s.role == "unknown" { s.name().to_string() } else { format!("{} ({})", s.name(), s.role) },
        )
        .collect();
    let mut out = format!(
        "# {title}\n\n{} · {} · {}\n",
        human_date(&m.started_at),
        hms(m.duration_ms),
        sources.join(", ")
    );
    for c in cues {
        let text = one_line(&c.text);
        if text.is_empty() {
            continue;
        }
        match &c.label {
            Some(label) => out += &format!("\n**[{}] {}:** {text}\n", hms(c.t0_ms), one_line(label)),
            None => out += &format!("\n**[{}]** {text}\n", hms(c.t0_ms)),
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM UTC` from the daemon's `YYYY-MM-DDTHH:MM:SS.mmmZ`; anything else as given.
fn human_date(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    if b.len() >= 17 && b[10] == b'T' && rfc3339.ends_with('Z') && rfc3339.is_ascii() {
        format!("{} {} UTC", &rfc3339[..10], &rfc3339[11..16])
    } else {
        rfc3339.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting_files::tests::meta;
    use hark_protocol::meeting::MeetingSource;
    use hark_protocol::voice::AudioSourceSpec;

    // ---- the outputs `hark transcribe` has always produced (crates/transcribe format.rs) ----

    fn sample() -> Vec<Cue> {
        vec![Cue::new(0, 2_500, " Hello \"world\""), Cue::new(3_723_004, 3_725_000, "Bye.")]
    }

    #[test]
    fn transcribe_formats_unchanged() {
        let t = sample();
        assert_eq!(txt(&t), "Hello \"world\" Bye.\n");
        assert_eq!(
            srt(&t),
            "1\n00:00:00,000 --> 00:00:02,500\nHello \"world\"\n\n2\n01:02:03,004 --> 01:02:05,000\nBye.\n\n"
        );
        assert!(vtt(&t).starts_with("WEBVTT\n\n00:00:00.000 --> 00:00:02.500\n"));
        assert_eq!(
            vtt(&t),
            "WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello \"world\"\n\n01:02:03.004 --> 01:02:05.000\nBye.\n\n"
        );
        let j = transcribe_json(&t, "en", 3_725_000);
        assert!(
            j.starts_with(
                r#"{"text":"Hello \"world\" Bye.","language":"en","duration_ms":3725000,"segments":[{"t0_ms":0"#
            ),
            "{j}"
        );
        assert_eq!(
            j,
            r#"{"text":"Hello \"world\" Bye.","language":"en","duration_ms":3725000,"segments":[{"t0_ms":0,"t1_ms":2500,"text":" Hello \"world\""},{"t0_ms":3723004,"t1_ms":3725000,"text":"Bye."}]}"#
        );
        assert_eq!(quote("a\u{1}\n"), "\"a\\u0001\\n\"");
        assert_eq!(txt(&[]), "\n");
        assert_eq!(srt(&[]), "");
        assert_eq!(vtt(&[]), "WEBVTT\n\n");
    }

    // ---- strict parsers: what a player would accept ----

    /// `HH:MM:SS<sep>mmm` exactly, as milliseconds.
    fn parse_clock(s: &str, sep: u8) -> u64 {
        let b = s.as_bytes();
        assert_eq!(b.len(), 12, "clock {s:?}");
        assert!(b[2] == b':' && b[5] == b':' && b[8] == sep, "clock {s:?}");
        let num = |r: std::ops::Range<usize>| -> u64 {
            assert!(b[r.clone()].iter().all(u8::is_ascii_digit), "clock {s:?}");
            s[r].parse().unwrap()
        };
        let (h, m, sec, ms) = (num(0..2), num(3..5), num(6..8), num(9..12));
        assert!(m < 60 && sec < 60, "clock {s:?}");
        ((h * 60 + m) * 60 + sec) * 1000 + ms
    }

    fn parse_timing(line: &str, sep: u8) -> (u64, u64) {
        let (a, b) = line.split_once(" --> ").unwrap_or_else(|| panic!("timing line {line:?}"));
        let (t0, t1) = (parse_clock(a, sep), parse_clock(b, sep));
        assert!(t0 <= t1, "{line:?}");
        (t0, t1)
    }

    /// Cues of `text` as blocks: lines up to a blank line; every block ends with one.
    fn blocks(text: &str) -> Vec<Vec<&str>> {
        assert!(text.is_empty() || text.ends_with("\n\n"), "ends with a blank line: {text:?}");
        assert!(!text.contains("\n\n\n"), "exactly one blank line between cues: {text:?}");
        text.split_terminator("\n\n").map(|b| b.split('\n').collect()).collect()
    }

    /// `(t0, t1, text)` of each SRT cue, checking numbering and shape.
    fn parse_srt(text: &str) -> Vec<(u64, u64, String)> {
        blocks(text)
            .into_iter()
            .enumerate()
            .map(|(i, lines)| {
                assert!(lines.len() >= 3, "index, timing, text: {lines:?}");
                assert_eq!(lines[0], (i + 1).to_string());
                let (t0, t1) = parse_timing(lines[1], b',');
                let payload = &lines[2..];
                assert!(payload.iter().all(|l| !l.trim().is_empty() && !l.contains("-->")), "{payload:?}");
                (t0, t1, payload.join("\n"))
            })
            .collect()
    }

    /// `(t0, t1, voice, text)` of each VTT cue, checking the header, shape and escaping.
    fn parse_vtt(text: &str) -> Vec<(u64, u64, Option<String>, String)> {
        let body = text.strip_prefix("WEBVTT\n\n").expect("WEBVTT header");
        blocks(body)
            .into_iter()
            .map(|lines| {
                assert!(lines.len() >= 2, "timing, text: {lines:?}");
                let (t0, t1) = parse_timing(lines[0], b'.');
                let payload = lines[1..].join("\n");
                assert!(!payload.trim().is_empty() && !payload.contains("-->"), "{payload:?}");
                let (voice, rest) = match payload.strip_prefix("<v ") {
                    Some(r) => {
                        let (v, rest) = r.split_once('>').expect("closed voice tag");
                        (Some(v.to_string()), rest.to_string())
                    }
                    None => (None, payload.clone()),
                };
                assert!(!rest.contains('<') && !rest.contains('>'), "no markup in text: {rest:?}");
                let unescaped = rest.replace("&lt;", "").replace("&gt;", "").replace("&amp;", "");
                assert!(!unescaped.contains('&'), "bare & in {rest:?}");
                (t0, t1, voice, rest)
            })
            .collect()
    }

    fn s(seq: u64, source: &str, role: &str, t0_ms: u64, text: &str) -> Segment {
        Segment {
            seq,
            source: source.into(),
            role: role.into(),
            t0_ms,
            t1_ms: t0_ms + 1500,
            timestamp: "2026-01-02T03:04:05.000Z".into(),
            text: text.into(),
        }
    }

    fn call() -> (MeetingMetadata, Vec<Segment>) {
        let mut m = meta("m", "Weekly\nsync", "2026-01-02T03:04:05.000Z");
        m.duration_ms = 3_723_000;
        m.sources.push(MeetingSource {
            spec: AudioSourceSpec::PcmPush { sample_rate: 16_000, channels: 1, name: Some("phone".into()) },
            role: "unknown".into(),
        });
        let segments = vec![
            s(0, "mic", "me", 1_000, " Hello\n\nthere "),
            // Stored after seq 2 though it started first: export orders by time.
            s(2, "system", "them", 500, "hi --> you"),
            s(1, "phone", "unknown", 3_723_004, "a <b>bold</b> & co\r\nclaim"),
            s(3, "mic", "me", 4_000, "  \n "),
        ];
        (m, segments)
    }

    #[test]
    fn srt_of_a_labelled_meeting_parses_strictly() {
        let (m, segs) = call();
        let cues = parse_srt(&export(&m, &segs, ExportFormat::Srt));
        assert_eq!(
            cues,
            vec![
                (500, 2_000, "them: hi -> you".to_string()),
                (1_000, 2_500, "me: Hello there".to_string()),
                (3_723_004, 3_724_504, "phone: a <b>bold</b> & co claim".to_string()),
            ]
        );
    }

    #[test]
    fn vtt_of_a_labelled_meeting_parses_strictly() {
        let (m, segs) = call();
        let out = export(&m, &segs, ExportFormat::Vtt);
        let cues = parse_vtt(&out);
        assert_eq!(
            cues,
            vec![
                (500, 2_000, Some("them".to_string()), "hi --&gt; you".to_string()),
                (1_000, 2_500, Some("me".to_string()), "Hello there".to_string()),
                (
                    3_723_004,
                    3_724_504,
                    Some("phone".to_string()),
                    "a &lt;b&gt;bold&lt;/b&gt; &amp; co claim".to_string()
                ),
            ]
        );
        // A label that is markup itself is escaped too.
        let c = Cue { t0_ms: 0, t1_ms: 1, text: "x".into(), label: Some("a>b".into()) };
        assert_eq!(parse_vtt(&vtt(&[c]))[0].2.as_deref(), Some("a&gt;b"));
    }

    #[test]
    fn md_and_txt() {
        let (m, segs) = call();
        let md = export(&m, &segs, ExportFormat::Md);
        assert!(
            md.starts_with(
                "# Weekly sync\n\n2026-01-02 03:04 UTC · 01:02:03 · mic (me), system (them), phone\n"
            ),
            "{md}"
        );
        assert!(md.contains("\n**[00:00:00] them:** hi --> you\n"), "{md}");
        assert!(md.contains("\n**[00:00:01] me:** Hello there\n"), "{md}");
        assert!(md.contains("\n**[01:02:03] phone:** a <b>bold</b> & co claim\n"), "{md}");
        assert!(!md.contains("\n\n\n"));
        let txt = export(&m, &segs, ExportFormat::Txt);
        assert_eq!(
            txt,
            "[00:00:00] them: hi --> you\n[00:00:01] me: Hello there\n[01:02:03] phone: a <b>bold</b> & co claim\n"
        );
    }

    #[test]
    fn a_single_unknown_source_has_no_labels() {
        let mut m = meta("m", "Import", "2026-01-02T03:04:05.000Z");
        m.sources = vec![MeetingSource {
            spec: AudioSourceSpec::File { path: "/x.wav".into(), realtime: false, name: Some("file".into()) },
            role: "unknown".into(),
        }];
        let segs = vec![s(0, "file", "unknown", 0, "one"), s(1, "file", "unknown", 2_000, "two")];
        assert_eq!(export(&m, &segs, ExportFormat::Txt), "[00:00:00] one\n[00:00:02] two\n");
        assert_eq!(parse_srt(&export(&m, &segs, ExportFormat::Srt))[1], (2_000, 3_500, "two".to_string()));
        assert_eq!(parse_vtt(&export(&m, &segs, ExportFormat::Vtt))[0].2, None);
        let md = export(&m, &segs, ExportFormat::Md);
        assert!(md.contains("\n**[00:00:02]** two\n") && md.contains("· file\n"), "{md}");
        // Two unknown sources: labelled by source name.
        m.sources.push(m.sources[0].clone());
        let segs = vec![s(0, "file", "unknown", 0, "one"), s(1, "other", "unknown", 2_000, "two")];
        assert_eq!(export(&m, &segs, ExportFormat::Txt), "[00:00:00] file: one\n[00:00:02] other: two\n");
    }

    #[test]
    fn json_is_metadata_and_segments_as_stored() {
        let (m, segs) = call();
        let out = export(&m, &segs, ExportFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(serde_json::from_value::<MeetingMetadata>(v["metadata"].clone()).unwrap(), m);
        assert_eq!(serde_json::from_value::<Vec<Segment>>(v["segments"].clone()).unwrap(), segs);
        assert!(out.starts_with("{\n  \"metadata\": {\n    \"id\": \"m\""), "pretty, struct order: {out}");
    }

    #[test]
    fn labelled_generic_cues() {
        let cues = vec![
            Cue { t0_ms: 0, t1_ms: 1000, text: "hi\nthere".into(), label: Some("me".into()) },
            Cue::new(1000, 2000, "plain"),
        ];
        assert_eq!(txt(&cues), "me: hi there\nplain\n");
        assert_eq!(parse_srt(&srt(&cues))[0].2, "me: hi there");
        assert_eq!(parse_vtt(&vtt(&cues))[1].2, None);
    }
}
