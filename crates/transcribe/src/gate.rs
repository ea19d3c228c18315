//! One decode at a time, finals first. whisper.cpp's CPU threads wait for each other by
//! spinning, so two decodes at once on a machine with no spare cores do not share it: each
//! spins while the other holds the core it waits for. Measured with `hark-bench accuracy` on
//! jfk.wav (2 cores, 2 threads a call): a final that started while a partial of 3 s was
//! decoding took 4.3 s, and so did the partial, where each alone takes 0.26-0.33 s.
//!
//! [`Gated`] wraps a transcriber so that its calls of up to one window (30 s: every final and
//! partial of a stream, a short `transcribe`) take turns through one [`Gate`], shared by every
//! model a daemon loads: a waiting final goes before any waiting partial, so partials only
//! ever use time the finals leave. Longer calls (a file, a meeting's second pass) run beside
//! them, ungated: holding the gate for minutes would stop every live stream's finals for as
//! long.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{Options, Progress, TranscribeError, Transcriber, Transcript};

/// Calls longer than this (in samples at 16 kHz) are not gated.
const GATED_MAX_SAMPLES: usize = 30 * 16_000;

#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Debug, Default)]
struct State {
    busy: bool,
    finals_waiting: usize,
}

/// The gate held; released on drop.
#[derive(Debug)]
pub struct Turn<'a>(&'a Gate);

impl Gate {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the gate: a final as soon as no call holds it, a partial once no call holds it
    /// and no final waits.
    pub fn enter(&self, partial: bool) -> Turn<'_> {
        let mut s = self.lock();
        if !partial {
            s.finals_waiting += 1;
        }
        while s.busy || (partial && s.finals_waiting > 0) {
            s = self.turn.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if !partial {
            s.finals_waiting -= 1;
        }
        s.busy = true;
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.0.lock().busy = false;
        self.0.turn.notify_all();
    }
}

/// A transcriber whose short calls take turns through a shared [`Gate`].
pub struct Gated {
    inner: Arc<dyn Transcriber>,
    gate: Arc<Gate>,
}

impl Gated {
    pub fn new(inner: Arc<dyn Transcriber>, gate: Arc<Gate>) -> Self {
        Gated { inner, gate }
    }

    fn turn(&self, audio: &[f32], options: &Options) -> Option<Turn<'_>> {
        (audio.len() <= GATED_MAX_SAMPLES).then(|| self.gate.enter(options.partial))
    }
}

impl Transcriber for Gated {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError> {
        let _turn = self.turn(audio, options);
        self.inner.transcribe(audio, options)
    }

    fn transcribe_with_progress(
        &self,
        audio: &[f32],
        options: &Options,
        progress: Progress,
    ) -> Result<Transcript, TranscribeError> {
        let _turn = self.turn(audio, options);
        self.inner.transcribe_with_progress(audio, options, progress)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Records the order calls ran in and how many ran at once.
    #[derive(Default)]
    struct Probe {
        running: AtomicUsize,
        most: AtomicUsize,
        order: Mutex<Vec<&'static str>>,
    }

    impl Transcriber for Probe {
        fn name(&self) -> &str {
            "probe"
        }

        fn transcribe(&self, audio: &[f32], options: &Options) -> Result<Transcript, TranscribeError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.order.lock().unwrap().push(if options.partial { "partial" } else { "final" });
            std::thread::sleep(Duration::from_millis(if audio.len() > GATED_MAX_SAMPLES {
                400
            } else {
                150
            }));
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(Transcript::default())
        }
    }

    fn call(t: &Arc<Gated>, partial: bool, samples: usize) -> std::thread::JoinHandle<()> {
        let t = t.clone();
        std::thread::spawn(move || {
            t.transcribe(&vec![0.0; samples], &Options { partial, ..Options::default() }).unwrap();
        })
    }

    #[test]
    fn short_calls_take_turns_and_a_waiting_final_goes_before_waiting_partials() {
        let probe = Arc::new(Probe::default());
        let t = Arc::new(Gated::new(probe.clone(), Arc::new(Gate::default())));
        let first = call(&t, true, 16_000); // holds the gate
        std::thread::sleep(Duration::from_millis(20));
        let partials: Vec<_> = (0..2).map(|_| call(&t, true, 16_000)).collect();
        std::thread::sleep(Duration::from_millis(10));
        let last = call(&t, false, 16_000); // came last, runs next
        for h in partials.into_iter().chain([first, last]) {
            h.join().unwrap();
        }
        assert_eq!(probe.most.load(Ordering::SeqCst), 1, "two decodes ran at once");
        assert_eq!(*probe.order.lock().unwrap(), ["partial", "final", "partial", "partial"]);
    }

    #[test]
    fn a_call_longer_than_one_window_is_not_held_back() {
        let probe = Arc::new(Probe::default());
        let t = Arc::new(Gated::new(probe.clone(), Arc::new(Gate::default())));
        let long = call(&t, false, GATED_MAX_SAMPLES + 1);
        std::thread::sleep(Duration::from_millis(20));
        let short = call(&t, false, 16_000);
        short.join().unwrap();
        // The short one ended while the long one still ran: they overlapped.
        assert_eq!(probe.running.load(Ordering::SeqCst), 1);
        long.join().unwrap();
        assert_eq!(probe.most.load(Ordering::SeqCst), 2);
    }
}
