//! Agent surfaces: what validation costs, and how fast a change reaches 50 renderers.
//!
//! - Validation: `hark_a2ui::Store::apply` (schema, catalog, Hark's rules, the merge, the view)
//!   and `hark_a2ui::validate` alone, of the
//!   largest basic-catalog example's messages and of a generated 256-component surface, per
//!   message, against a floor measured in the same run: `serde_json::to_vec` of the same
//!   messages (the least any daemon must do to pass a message on).
//! - Fan-out: an agent's `a2ui.apply` over the wire until each of 50 host subscribers has the
//!   `a2ui.event`, against a floor in the same daemon and run: the agent's `host.notify` with a
//!   payload of the same size until each subscriber has the `host.event` (the daemon's existing
//!   fan-out). Both alternate, round by round.

use std::time::{Duration, Instant};

use hark_test_support::{Client, TestDaemon};
use serde_json::{Value, json};

use crate::pct;

#[derive(clap::Args, Debug)]
pub struct SurfacesArgs {
    /// Validation iterations per case.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Host subscribers for the fan-out.
    #[arg(long, default_value_t = 50)]
    subscribers: usize,
    /// Fan-out rounds (each: one surface update and one notify).
    #[arg(long, default_value_t = 200)]
    rounds: usize,
}

const CATALOG: &str = "https://a2ui.org/specification/v0_9/catalogs/basic/catalog.json";

fn largest_example() -> (String, Vec<Value>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../a2ui/tests/fixtures/examples");
    let mut best = (String::new(), Vec::new(), 0usize);
    for entry in std::fs::read_dir(&dir).expect("the A2UI examples").flatten() {
        let text = std::fs::read_to_string(entry.path()).expect("an example");
        if text.len() > best.2 {
            let v: Value = serde_json::from_str(&text).expect("an example is JSON");
            let name = entry.file_name().to_string_lossy().into_owned();
            best = (name, v["messages"].as_array().cloned().unwrap_or_default(), text.len());
        }
    }
    (best.0, best.1)
}

fn wide_surface(id: &str) -> Vec<Value> {
    let mut components = vec![json!({ "id": "root", "component": "Column",
        "children": (0..255).map(|i| format!("t{i}")).collect::<Vec<_>>() })];
    components.extend(
        (0..255).map(|i| json!({ "id": format!("t{i}"), "component": "Text", "text": format!("line {i}") })),
    );
    vec![
        json!({ "version": "v0.9", "createSurface": { "surfaceId": id, "catalogId": CATALOG } }),
        json!({ "version": "v0.9", "updateComponents": { "surfaceId": id, "components": components } }),
    ]
}

/// µs per message: the store's apply (fresh store per iteration) and the floor.
fn validation(name: &str, messages: &[Value], iterations: usize) -> String {
    let delete = |m: &Value| m.get("createSurface").map(|c| c["surfaceId"].clone());
    let ids: Vec<Value> = messages.iter().filter_map(delete).collect();
    let mut store = hark_a2ui::Store::new(hark_a2ui::Limits::default());
    let started = Instant::now();
    for _ in 0..iterations {
        for m in messages {
            store.apply(m, "bench", 0).expect("the bench messages are valid");
        }
        for id in &ids {
            store.remove(id.as_str().unwrap_or_default());
        }
    }
    let apply_us = started.elapsed().as_secs_f64() * 1e6 / (iterations * messages.len()) as f64;
    let limits = hark_a2ui::Limits::default();
    let started = Instant::now();
    for _ in 0..iterations {
        for m in messages {
            hark_a2ui::validate(m, &limits).expect("the bench messages are valid");
        }
    }
    let validate_us = started.elapsed().as_secs_f64() * 1e6 / (iterations * messages.len()) as f64;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..iterations {
        for m in messages {
            bytes += serde_json::to_vec(m).expect("serializes").len();
        }
    }
    let floor_us = started.elapsed().as_secs_f64() * 1e6 / (iterations * messages.len()) as f64;
    let size = bytes / iterations.max(1);
    format!(
        "{name}: {} messages, {size} bytes: apply (validate + merge + view) {apply_us:.1} µs/message, validate alone {validate_us:.1} µs/message; floor (serialize) {floor_us:.2} µs/message; apply {:.0}x the floor",
        messages.len(),
        apply_us / floor_us
    )
}

/// Sends with `send`, then waits until every subscriber has a message with `method` whose
/// `params.kind` is `kind` (other messages are skipped); returns every arrival, in ms.
async fn fan_out(
    subscribers: &[Client],
    method: &str,
    kind: &str,
    send: impl std::future::Future<Output = ()>,
) -> Vec<f64> {
    let started = Instant::now();
    let waits = subscribers.iter().map(|s| async move {
        loop {
            let m = s
                .next_method(method, Duration::from_secs(10))
                .await
                .expect("the fan-out reaches every subscriber");
            if m["params"]["kind"] == kind {
                return started.elapsed().as_secs_f64() * 1e3;
            }
        }
    });
    let (arrivals, ()) = tokio::join!(futures_util::future::join_all(waits), send);
    arrivals
}

async fn fan_out_bench(args: &SurfacesArgs) -> Vec<String> {
    let d = TestDaemon::start().await;
    let agent = d.client().await;
    let mut subscribers = Vec::new();
    for _ in 0..args.subscribers {
        let s = d.host().await;
        s.call("a2ui/subscribe", json!({})).await.expect("subscribe");
        s.call("host.subscribe", json!({})).await.expect("host.subscribe");
        subscribers.push(s);
    }
    let create = json!({ "version": "v0.9", "createSurface": { "surfaceId": "fan", "catalogId": CATALOG } });
    let update = |i: usize| {
        json!({ "version": "v0.9", "updateComponents": { "surfaceId": "fan", "components": [
            { "id": "root", "component": "Card", "child": "t" },
            { "id": "t", "component": "Text", "text": format!("update {i}") } ] } })
    };
    agent.call("a2ui.apply", create).await.expect("create");
    for s in &subscribers {
        while s.next_message(Duration::from_millis(50)).await.is_some() {}
    }
    let probe = agent.call("a2ui.apply", update(0)).await.expect("an update");
    let event_bytes = json!({ "kind": "a2ui.surface_updated", "result": probe }).to_string().len();
    for s in &subscribers {
        while s.next_message(Duration::from_millis(50)).await.is_some() {}
    }
    let pad = "x".repeat(event_bytes.saturating_sub(120).min(15 << 10));
    let (mut surface_last, mut surface_all, mut floor_last, mut floor_all) = (vec![], vec![], vec![], vec![]);
    for round in 0..args.rounds {
        let a = fan_out(&subscribers, "a2ui.event", "a2ui.surface_updated", async {
            agent.call("a2ui.apply", update(round + 1)).await.expect("an update");
        })
        .await;
        let f = fan_out(&subscribers, "host.event", "host.notification", async {
            agent
                .call("host.notify", json!({ "message": "bench", "payload": { "pad": pad } }))
                .await
                .expect("notify");
        })
        .await;
        surface_last.push(a.iter().cloned().fold(0.0, f64::max));
        floor_last.push(f.iter().cloned().fold(0.0, f64::max));
        surface_all.extend(a);
        floor_all.extend(f);
    }
    d.stop().await;
    let sort = |v: &mut Vec<f64>| v.sort_by(|a, b| a.total_cmp(b));
    for v in [&mut surface_last, &mut surface_all, &mut floor_last, &mut floor_all] {
        sort(v);
    }
    vec![
        format!(
            "fan-out to {} subscribers, a2ui.apply -> a2ui.event ({event_bytes} bytes): every arrival p50 {:.2} ms p99 {:.2} ms; last arrival p50 {:.2} ms p99 {:.2} ms",
            args.subscribers,
            pct(&surface_all, 0.5),
            pct(&surface_all, 0.99),
            pct(&surface_last, 0.5),
            pct(&surface_last, 0.99)
        ),
        format!(
            "floor, host.notify -> host.event (same size): every arrival p50 {:.2} ms p99 {:.2} ms; last arrival p50 {:.2} ms p99 {:.2} ms",
            pct(&floor_all, 0.5),
            pct(&floor_all, 0.99),
            pct(&floor_last, 0.5),
            pct(&floor_last, 0.99)
        ),
        format!("last arrival p50: a2ui {:.2}x the floor", pct(&surface_last, 0.5) / pct(&floor_last, 0.5)),
    ]
}

pub fn run(args: SurfacesArgs) -> Result<(), String> {
    let (name, messages) = largest_example();
    println!("{}", validation(&format!("largest example {name}"), &messages, args.iterations));
    println!("{}", validation("256-component surface", &wide_surface("wide"), args.iterations));
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    for line in runtime.block_on(fan_out_bench(&args)) {
        println!("{line}");
    }
    Ok(())
}
