//! Tests that measure the whole process (open file descriptors, latency percentiles), so they
//! must not share it with other tests: this binary holds only them, and they take turns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hark_test_support::{Client, RawPeer, TestDaemon, eventually};
use serde_json::{Value, json};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connect_cycles_leave_nothing_behind() {
    let _turn = SERIAL.lock().await;
    let d = TestDaemon::start().await;
    let cycle = |i: usize| {
        let d = &d;
        async move {
            let c = if i.is_multiple_of(2) { d.connect().await } else { d.connect_unix().await };
            c.call("session.auth", json!({ "token": d.token })).await.unwrap();
            if i.is_multiple_of(3) {
                c.close().await; // polite
            } // else: dropped without a close frame
        }
    };
    for i in 0..20 {
        cycle(i).await;
    }
    d.wait_sessions(0).await;
    eventually("the warm-up's connections to be gone", Duration::from_secs(3), || async {
        d.daemon.live_connection_objects.load(Ordering::Acquire) == 0
    })
    .await;
    let before = open_fds();
    let t = Instant::now();
    for i in 0..1000 {
        cycle(i).await;
    }
    let elapsed = t.elapsed();
    assert_eq!(d.wait_sessions(0).await, 0);
    for _ in 0..300 {
        if d.daemon.live_connection_objects.load(Ordering::Acquire) == 0 && open_fds() <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = open_fds();
    eprintln!("1000 cycles in {elapsed:?}; fds before {before}, after {after}");
    assert_eq!(d.daemon.live_connection_objects.load(Ordering::Acquire), 0);
    assert!(after <= before, "file descriptors leaked: {before} -> {after}");
    let c = d.client().await;
    let info = c.call("server.info", json!({})).await.unwrap();
    assert_eq!(
        (info["sessions"].clone(), info["connections"].clone()),
        (json!(1), json!(1)),
        "only the asker"
    );
}

/// Round-trip latencies (µs) of `n` sequential calls on each of `clients`.
///
/// Each client's calls run in a task of their own on the runtime's two workers, beside the
/// daemon's tasks: run from the test's own thread (`block_on`), they made three busy threads
/// on a 2-core box, and a window then lost whole 4 ms scheduler ticks at random (measured:
/// that thread used a fifth of the CPU of a window, and a third of the windows with a stuck
/// client connected read a p99 of 4-4.7 ms against 0.8-1.1 ms).
async fn round_trips(clients: &[Arc<Client>], n: usize) -> Vec<u64> {
    let per_client = clients.iter().map(|c| {
        let c = c.clone();
        tokio::spawn(async move {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                c.call("admission.status", json!({})).await.unwrap();
                v.push(t.elapsed().as_micros() as u64);
            }
            v
        })
    });
    let mut all: Vec<u64> =
        futures_util::future::join_all(per_client).await.into_iter().flat_map(|v| v.unwrap()).collect();
    all.sort_unstable();
    all
}

fn p99(sorted: &[u64]) -> u64 {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

/// The round-trip p99 (µs) of each of `windows` windows of `n` calls per client, sorted: one
/// window's p99 on a loaded 2-core box swings 1.2-3.5 ms from scheduling alone, with or without
/// a slow consumer (measured), so comparisons are made over several windows.
async fn p99_windows(clients: &[Arc<Client>], n: usize, windows: usize) -> Vec<u64> {
    let mut p = Vec::new();
    for _ in 0..windows {
        p.push(p99(&round_trips(clients, n).await));
    }
    p.sort_unstable();
    p
}

/// The median of three windows' round-trip p99 (µs).
async fn p99_of_three(clients: &[Arc<Client>], n: usize) -> u64 {
    p99_windows(clients, n, 3).await[1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_disconnected_and_does_not_slow_the_others() {
    let _turn = SERIAL.lock().await;
    let d = TestDaemon::start_with(|c| {
        c.limits.outbound_queue = 64;
        c.limits.slow_consumer = Duration::from_secs(4);
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(Arc::new(d.client().await));
    }
    round_trips(&clients, 50).await; // warm-up
    let baseline_a = p99_of_three(&clients, 200).await;

    // The slow consumer: registers big tools, then asks for the list over and over and never reads.
    let mut slow = RawPeer::connect(d.port).await.unwrap();
    slow.send_text(
        &json!({ "jsonrpc": "2.0", "id": 0, "method": "session.auth", "params": { "token": d.token, "agent_id": "slow" } })
            .to_string(),
    )
    .await
    .unwrap();
    let tools: Vec<Value> = (0..200)
        .map(|i| json!({ "name": format!("tool-{i:03}"), "description": "d".repeat(1000) }))
        .collect();
    slow.send_text(
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "tools.register", "params": tools }).to_string(),
    )
    .await
    .unwrap();
    // ~20 MB of replies: more than its socket buffers and the writer's batch take, so replies wait
    // in its queue behind a blocked writer, and under the queue's hard bound (4x 8 MiB), so what
    // drops the client is the slow-consumer rule, not the overflow.
    for id in 2..100 {
        let req = json!({ "jsonrpc": "2.0", "id": id, "method": "tools.list", "params": {} }).to_string();
        if slow.send_text(&req).await.is_err() {
            break;
        }
    }
    // A last request that registers a tool: once it is registered the read loop has read the
    // whole flood (it reads in order), and once nothing is in flight after that every reply is
    // queued. Waiting for "nothing in flight" alone was racy: it could read 0 between two of
    // the flood's requests, and the daemon then spent about a second of one core serializing
    // the rest of the 20 MB of replies while the "stuck" window was measured (each tools.list
    // reply costs CPU whoever reads it): that load, not the stuck client, doubled the windows.
    let marker = json!([{ "name": "flood-sent", "description": "the last request of the flood" }]);
    slow.send_text(
        &json!({ "jsonrpc": "2.0", "id": 100, "method": "tools.register", "params": marker }).to_string(),
    )
    .await
    .unwrap();
    let stuck = eventually_some("the slow consumer's session", || d.daemon.agent_connection("slow")).await;
    eventually("the flood to be answered", Duration::from_secs(10), || {
        let done = stuck.runtime.lock().unwrap().tools.contains_key("flood-sent") && stuck.inflight() == 0;
        async move { done }
    })
    .await;
    let waiting = stuck.outbound.queued_bytes();
    assert!(waiting > 1 << 20, "replies wait behind its blocked writer: {waiting} bytes");
    drop(stuck);
    let flooded = Instant::now();
    // Five windows while it is stuck; their median is compared with the baseline.
    let with_windows = p99_windows(&clients, 200, 5).await;
    let with_slow = with_windows[2];
    assert_eq!(d.daemon.session_count(), 9, "measured while the slow consumer was still connected");
    assert!(flooded.elapsed() < Duration::from_secs(3));

    for _ in 0..800 {
        if d.daemon.session_count() == 8 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(d.daemon.session_count(), 8, "the slow consumer is gone, the others stay");
    eprintln!("slow consumer disconnected {:?} after its queue filled", flooded.elapsed());
    assert!(slow.drain_to_eof().await.is_ok(), "its socket was closed");
    let baseline_b = p99_of_three(&clients, 200).await;
    let baseline = baseline_a.max(baseline_b);
    eprintln!(
        "round-trip p99: without the slow consumer {baseline} µs, with it {with_slow} µs (windows {with_windows:?})"
    );
    // 2x of the same run without it; 1 ms of slack for timer granularity on a loaded 2-core box.
    assert!(with_slow <= 2 * baseline + 1000, "p99 {with_slow} µs vs baseline {baseline} µs");
    for c in &clients {
        c.call("server.info", json!({})).await.unwrap();
    }
    d.stop().await;
}

/// Resident memory of this process (the daemon and its clients), bytes.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// The fake transcriber with finals as slow as a model too big for the machine.
struct SlowFinals(hark_transcribe::fake::FakeTranscriber, Duration);

impl hark_transcribe::Transcriber for SlowFinals {
    fn name(&self) -> &str {
        "slow-fake"
    }
    fn transcribe(
        &self,
        audio: &[f32],
        options: &hark_transcribe::Options,
    ) -> Result<hark_transcribe::Transcript, hark_transcribe::TranscribeError> {
        if !options.partial {
            std::thread::sleep(self.1);
        }
        self.0.transcribe(audio, options)
    }
}

/// Issue 17, item 2: a client pushing binary audio frames as fast as its socket takes them into
/// a stream whose finals take 2 s each. Each frame used to become a task of its own while its
/// stream was full (memory grew with the flood); now a frame that has to wait holds the
/// connection's read loop, so the client is slowed by its own socket: the process's memory stays
/// within a bound and the other clients' round trips are not slowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_flood_holds_bounded_memory_and_slows_only_itself() {
    let _turn = SERIAL.lock().await;
    let loader: hark_core::config::ModelLoader = std::sync::Arc::new(|_: &std::path::Path| {
        let slow = SlowFinals(hark_transcribe::fake::FakeTranscriber::new(), Duration::from_secs(2));
        Ok(std::sync::Arc::new(slow) as std::sync::Arc<dyn hark_transcribe::Transcriber>)
    });
    let jfk_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/jfk.wav");
    let speech = hark_audio::wav::read_file_16k_mono(&jfk_path).unwrap().0;
    let d = TestDaemon::start_with(move |c| {
        c.transcriber = hark_core::config::TranscriberChoice::Model { path: jfk_path, loader }
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(Arc::new(d.client().await));
    }
    let baseline = p99_of_three(&clients, 200).await;

    let flooder = d.client().await;
    let started = flooder
        .call("voice.transcribe_stream.start", json!({ "audio_source": { "kind": "pcm_push" } }))
        .await
        .unwrap();
    let id = started["session_id"].as_str().unwrap().to_string();
    // 4 s of speech per frame (128 KiB of s16le, under the 256 KiB frame limit).
    let frames: Vec<Vec<u8>> = speech
        .chunks(64_000)
        .enumerate()
        .map(|(i, piece)| {
            let pcm: Vec<u8> =
                piece.iter().flat_map(|s| ((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes()).collect();
            hark_protocol::voice::audio_frame(&id, i as u64, &pcm).unwrap()
        })
        .collect();
    let before = rss_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    // The flood runs in a task on the runtime's workers, not on the test's own thread (see
    // [`round_trips`]).
    let flood = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                for frame in &frames {
                    if flooder.send_binary(frame.clone()).await.is_err() {
                        return sent;
                    }
                    sent += 1;
                }
                while flooder.next_message(Duration::ZERO).await.is_some() {} // its events
            }
            sent
        })
    };
    let watch = {
        let stop = stop.clone();
        async move {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            peak
        }
    };
    let measure = async {
        tokio::time::sleep(Duration::from_secs(2)).await; // the stream is full by then
        let during = p99_of_three(&clients, 200).await;
        let until = Instant::now() + Duration::from_secs(8);
        tokio::time::sleep_until(until.into()).await;
        stop.store(true, Ordering::Relaxed);
        during
    };
    let (sent, peak, during) = tokio::join!(flood, watch, measure);
    let sent = sent.unwrap();
    let growth = peak.saturating_sub(before);
    eprintln!(
        "binary flood: {sent} frames of 4 s sent in 10 s; RSS {} MiB before, peak {} MiB (+{} MiB); \
         round-trip p99 of 8 clients {baseline} µs without the flood, {during} µs with it",
        before >> 20,
        peak >> 20,
        growth >> 20
    );
    // The bound: the stream's 30 s budget of pushed audio (1.9 MB), one held frame, the
    // stream's own window (at most 28 s), socket buffers, plus the allocator's slack.
    assert!(growth < 64 << 20, "memory grew by {} MiB during the flood", growth >> 20);
    assert!(during <= 2 * baseline + 1000, "p99 {during} µs with the flood vs {baseline} µs without");
    d.stop().await;
}

/// Issue 17, item 5: journal lines and grants are written by the daemon's disk thread, never
/// on the runtime. 8 clients make round trips that journal a line each (`tools.register`)
/// while another thread keeps the same disk busy with fsynced writes; their p99 is compared with
/// the same round trips on a quiet disk, in the same run.
///
/// Quiet and busy windows alternate, three of each, and the medians are compared: measured
/// once each, a clean-clone CI run read 2.6 ms quiet against 13.3 ms busy (and another 3.0 vs
/// 19.2 ms) where every run here reads 3-6 ms for both, so something outside the test slowed
/// one stretch of a second; alternating windows spread such a stretch over both sides (here,
/// 9 runs: a busy window's p99 1.3-1.6x its quiet neighbours', with one first busy window at
/// 7.7 ms and one at 13.9 ms, which the median leaves out). Each client's calls run in a task
/// on the runtime's workers, as in [`round_trips`]; they ran on the test's own thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_disk_does_not_slow_requests_that_journal() {
    let _turn = SERIAL.lock().await;
    let d = TestDaemon::start().await;
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(Arc::new(d.client().await));
    }
    async fn journaled_round_trips(clients: &[Arc<Client>], n: usize) -> u64 {
        let per_client = clients.iter().enumerate().map(|(k, c)| {
            let c = c.clone();
            tokio::spawn(async move {
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    let tool = json!([{ "name": format!("t{k}-{i}"), "description": "x".repeat(2000) }]);
                    let t = Instant::now();
                    c.call("tools.register", tool).await.unwrap();
                    v.push(t.elapsed().as_micros() as u64);
                }
                v
            })
        });
        let mut all: Vec<u64> =
            futures_util::future::join_all(per_client).await.into_iter().flat_map(|v| v.unwrap()).collect();
        all.sort_unstable();
        p99(&all)
    }
    /// A thread writing 4 MiB files to `dir` and fsyncing each until stopped; started once its
    /// first fsync is done.
    async fn fsync_storm(dir: std::path::PathBuf) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
        let stop = Arc::new(AtomicBool::new(false));
        let synced = Arc::new(AtomicU64::new(0));
        let storm = {
            let (stop, synced) = (stop.clone(), synced.clone());
            std::thread::spawn(move || {
                use std::io::Write;
                let path = dir.join("fsync-storm.bin");
                let block = vec![7u8; 1 << 20];
                let mut syncs = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut f = std::fs::File::create(&path).unwrap();
                    for _ in 0..4 {
                        f.write_all(&block).unwrap();
                    }
                    f.sync_all().unwrap();
                    syncs += 1;
                    synced.store(syncs, Ordering::Release);
                }
                syncs
            })
        };
        eventually("the fsync storm to start", Duration::from_secs(10), || async {
            synced.load(Ordering::Acquire) > 0
        })
        .await;
        (stop, storm)
    }
    let (mut quiet, mut busy, mut syncs) = (Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        quiet.push(journaled_round_trips(&clients, 100).await);
        let (stop, storm) = fsync_storm(d.data_dir.clone()).await;
        busy.push(journaled_round_trips(&clients, 100).await);
        stop.store(true, Ordering::Relaxed);
        syncs += storm.join().unwrap();
    }
    d.daemon.disk.flush().await;
    let journals = std::fs::read_dir(d.data_dir.join("journals")).unwrap().count();
    eprintln!(
        "journaled round trips, 8 clients, p99 of three windows each: {quiet:?} µs on a quiet disk, \
         {busy:?} µs with {syncs} fsyncs of 4 MiB meanwhile"
    );
    quiet.sort_unstable();
    busy.sort_unstable();
    let (quiet, busy) = (quiet[1], busy[1]);
    assert_eq!(journals, 8, "every client's journal was written");
    assert!(busy <= 2 * quiet + 2000, "median p99 {busy} µs with a busy disk vs {quiet} µs");
    d.stop().await;
}

/// Polls `get` every 5 ms until it gives a value (at most 5 s).
async fn eventually_some<T>(what: &str, mut get: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = get() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// In this binary, not the daemon tests': its bound is on CPU work (the daemon builds many large
/// replies before the rule can fire), and beside the real-model tests it went from about 4 s
/// to over 6 s on 2 cores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_dropped_whatever_it_queued() {
    let _turn = SERIAL.lock().await;
    // Few, large replies: the queue never reaches its message bound, yet nothing moves.
    let d = TestDaemon::start_with(|c| c.limits.slow_consumer = Duration::from_millis(500)).await;
    let mut peer = RawPeer::connect(d.port).await.unwrap();
    let auth = json!({ "jsonrpc": "2.0", "id": 0, "method": "session.auth", "params": { "token": d.token } });
    peer.send_text(&auth.to_string()).await.unwrap();
    let tools: Vec<_> =
        (0..200).map(|i| json!({ "name": format!("t{i}"), "description": "x".repeat(2000) })).collect();
    peer.send_text(
        &json!({ "jsonrpc": "2.0", "id": 1, "method": "tools.register", "params": tools }).to_string(),
    )
    .await
    .unwrap();
    for id in 2..80 {
        let list = json!({ "jsonrpc": "2.0", "id": id, "method": "tools.list" });
        if peer.send_text(&list.to_string()).await.is_err() {
            break;
        }
    }
    let t = Instant::now();
    let released = || async {
        d.daemon.session_count() == 0 && d.daemon.live_connection_objects.load(Ordering::Acquire) == 0
    };
    eventually("the connection dropped and released", Duration::from_secs(10), released).await;
    // The rule fires after 500 ms of no progress, but the daemon first builds up to 80 replies of
    // ~400 KB (3.3-4.0 s in a debug build on an idle 2-core machine). 6 s is still far from anything
    // else that could end the connection (idle 90 s).
    assert!(t.elapsed() < Duration::from_secs(6), "took {:?}", t.elapsed());
}

/// The real tiny.en model (`HARK_TEST_MODEL`), or `None`, saying the test is skipped.
fn real_model() -> Option<std::path::PathBuf> {
    let model = std::env::var_os("HARK_TEST_MODEL").map(std::path::PathBuf::from).filter(|p| p.exists());
    if model.is_none() {
        eprintln!("skipped: HARK_TEST_MODEL is not set (the real tiny.en model)");
    }
    model
}

/// Issue 15 (the app goes back to its idle memory after a meeting): once the keep-alive has
/// released the model, what the meeting used (the model, its streams' whisper state and audio)
/// goes back to the system, not only to the allocator. Measured on this process: before the
/// model's first use, right after a meeting with the real model, and after the release. Without
/// `malloc_trim` after the release, glibc kept about as much as the model resident; the bound
/// (a quarter of what the meeting added) sits between the two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_model_gives_its_memory_back_to_the_system() {
    let _turn = SERIAL.lock().await;
    let Some(model) = real_model() else { return };
    let path = model.clone();
    let d = TestDaemon::start_with(move |c| {
        c.transcriber = hark_core::config::TranscriberChoice::Model {
            path,
            loader: std::sync::Arc::new(|p: &std::path::Path| {
                let t = hark_transcribe::whisper::WhisperTranscriber::load(p)?;
                Ok(std::sync::Arc::new(t) as std::sync::Arc<dyn hark_transcribe::Transcriber>)
            }),
        }
    })
    .await;
    let host = d.host().await;
    let idle = rss_bytes();
    let jfk = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/jfk.wav");
    let source = json!({ "kind": "file", "path": jfk, "realtime": false, "name": "call", "role": "them" });
    host.call("meeting.start", json!({ "id": "m", "sources": [source] })).await.unwrap();
    eventually("the meeting to end", Duration::from_secs(120), || async {
        host.call("meeting.get", json!({ "meeting_id": "m" })).await.unwrap()["metadata"]["status"]
            != "recording"
    })
    .await;
    assert!(d.daemon.engine.is_loaded(&model));
    let loaded = rss_bytes();
    // 60 ms: the reaper wakes on the change and releases it.
    host.call("settings.update", json!({ "settings": { "model_keep_alive_minutes": 0.001 } })).await.unwrap();
    eventually("the model to be released", Duration::from_secs(10), || async {
        !d.daemon.engine.is_loaded(&model)
    })
    .await;
    let added = loaded.saturating_sub(idle);
    let mut kept = u64::MAX;
    for _ in 0..40 {
        // The trim runs on a blocking thread just after the release.
        tokio::time::sleep(Duration::from_millis(50)).await;
        kept = rss_bytes().saturating_sub(idle);
        if kept < added / 4 {
            break;
        }
    }
    eprintln!(
        "RSS {} MiB idle, +{} MiB after the meeting, +{} MiB after the release",
        idle >> 20,
        added >> 20,
        kept >> 20
    );
    assert!(added > 50 << 20, "the model did not load (+{} MiB)", added >> 20);
    assert!(kept < added / 4, "+{} MiB kept of the +{} MiB the meeting added", kept >> 20, added >> 20);
    d.stop().await;
}

/// Wall time inside a transcriber's calls, partials and finals apart.
struct Timed {
    inner: hark_transcribe::whisper::WhisperTranscriber,
    partial_ns: std::sync::atomic::AtomicU64,
    final_ns: std::sync::atomic::AtomicU64,
}

impl hark_transcribe::Transcriber for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn transcribe(
        &self,
        audio: &[f32],
        options: &hark_transcribe::Options,
    ) -> Result<hark_transcribe::Transcript, hark_transcribe::TranscribeError> {
        let t = Instant::now();
        let out = self.inner.transcribe(audio, options);
        let busy = if options.partial { &self.partial_ns } else { &self.final_ns };
        busy.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out
    }
}

/// Issue 16 (partials that cost less): jfk.wav streamed at real-time pace with partials on,
/// the default policy, the real model. Finals plus partials cost at most 3x the floor (one
/// `full()` over the file, measured in this test) and partials come within half a second of
/// the audio they cover (p90). Measured by this test (2 cores, a debug build, where the floor
/// takes 1.8 s): 1.48-1.49x, lag p90 0.27-0.32 s; 5.9x on the code before partials' windows,
/// token cap, cadence and the model's gate (BENCHMARKS.md, "Partials that cost less").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partials_cost_little_next_to_the_floor_and_come_within_half_a_second() {
    let _turn = SERIAL.lock().await;
    let Some(model) = real_model() else { return };
    let jfk_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/audio/jfk.wav");
    let jfk = hark_audio::wav::read_file_16k_mono(&jfk_path).unwrap().0;
    let timed = Arc::new(Timed {
        inner: hark_transcribe::whisper::WhisperTranscriber::load(&model).unwrap(),
        partial_ns: Default::default(),
        final_ns: Default::default(),
    });
    // The daemon's calls use every core (`Options::default`): so does the floor.
    let threads = hark_transcribe::Options::default().threads;
    let floor = tokio::task::spawn_blocking({
        let timed = timed.clone();
        move || {
            timed.inner.floor(&jfk[..16_000 * 5], threads).unwrap(); // warm-up
            let mut runs: Vec<f64> = (0..3)
                .map(|_| {
                    let t = Instant::now();
                    timed.inner.floor(&jfk, threads).unwrap();
                    t.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[1]
        }
    })
    .await
    .unwrap();
    let loaded = timed.clone();
    let d = TestDaemon::start_with(move |c| {
        c.transcriber = hark_core::config::TranscriberChoice::Model {
            path: "tiny.en".into(),
            loader: Arc::new(move |_: &std::path::Path| {
                Ok(loaded.clone() as Arc<dyn hark_transcribe::Transcriber>)
            }),
        };
    })
    .await;
    let c = d.client().await;
    let source = json!({ "kind": "file", "path": jfk_path, "realtime": true });
    c.call("voice.transcribe_stream.start", json!({ "audio_source": source })).await.unwrap();
    let started = Instant::now();
    let (mut lags, mut finals) = (Vec::new(), Vec::new());
    while let Some(m) = c.next_method("voice.event", Duration::from_secs(30)).await {
        let e = &m["params"]["event"];
        match e["type"].as_str() {
            Some("partial") => {
                lags.push(started.elapsed().as_secs_f64() - e["t1_ms"].as_f64().unwrap() / 1000.0)
            }
            Some("transcript") => finals.push(e["text"].as_str().unwrap().to_string()),
            Some("done") => break,
            _ => {}
        }
    }
    d.stop().await;
    let s = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e9;
    let (p, f) = (s(&timed.partial_ns), s(&timed.final_ns));
    lags.sort_by(f64::total_cmp);
    let p90 = lags.get((lags.len() * 9).div_ceil(10).saturating_sub(1)).copied().unwrap_or(f64::NAN);
    eprintln!(
        "floor {floor:.2} s; finals {f:.2} s + partials {p:.2} s = {:.2}x; {} partials, lag p90 {p90:.2} s",
        (f + p) / floor,
        lags.len()
    );
    let words = |s: &str| hark_transcribe::text::words(s);
    assert_eq!(
        words(&finals.join(" ")),
        words(
            "And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
        ),
    );
    assert!(lags.len() >= 3, "only {} partials", lags.len());
    assert!((f + p) / floor <= 3.0, "finals {f:.2} s + partials {p:.2} s against the floor's {floor:.2} s");
    assert!(p90 <= 0.5, "partial lag p90 {p90:.2} s: {lags:?}");
}
