//! Admission (PROTOCOL §10): a pool of permits that bounds concurrent transcription work
//! (one-shot `transcribe`, model loads). A request that would wait longer than the admission
//! wait (30 s) gets -32011 instead of queueing forever.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hark_protocol::RpcError;
use hark_protocol::admission::AdmissionStatus;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

const GIB: u64 = 1 << 30;

#[derive(Debug)]
pub struct Admission {
    semaphore: Arc<Semaphore>,
    total: usize,
    queued: AtomicUsize,
    wait: Duration,
}

/// Counts a waiter for as long as it waits.
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Admission {
    pub fn new(total: usize, wait: Duration) -> Self {
        let total = total.max(1);
        Admission { semaphore: Arc::new(Semaphore::new(total)), total, queued: AtomicUsize::new(0), wait }
    }

    /// Waits for a permit, at most the admission wait; then -32011.
    pub async fn acquire(&self) -> Result<OwnedSemaphorePermit, RpcError> {
        if let Ok(permit) = self.semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let _queued = Queued(&self.queued);
        match tokio::time::timeout(self.wait, self.semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_closed)) => Err(RpcError::busy("the daemon is shutting down")),
            Err(_) => Err(RpcError::busy(format!(
                "all {} inference permits are busy and none freed within {} s; retry later",
                self.total,
                self.wait.as_secs()
            ))),
        }
    }

    pub fn status(&self) -> AdmissionStatus {
        let available = self.semaphore.available_permits();
        AdmissionStatus {
            permits_total: self.total,
            permits_available: available,
            permits_in_use: self.total.saturating_sub(available),
            queued: self.queued.load(Ordering::Acquire),
        }
    }
}

/// RAM / 8 GiB, clamped to 1..=8 (PROTOCOL §10). `HARK_INFERENCE_MAX_CONCURRENT` is applied by
/// the caller that reads the environment (the CLI).
pub fn default_permits() -> usize {
    permits_for_ram(total_ram_bytes().unwrap_or(8 * GIB))
}

pub fn permits_for_ram(bytes: u64) -> usize {
    (bytes / (8 * GIB)).clamp(1, 8) as usize
}

#[cfg(target_os = "linux")]
fn total_ram_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(all(unix, not(target_os = "linux")))]
#[allow(unsafe_code)] // sysconf has no safe wrapper in std; both calls only read constants.
fn total_ram_bytes() -> Option<u64> {
    // SAFETY: sysconf takes an int and returns a long; no memory is shared.
    let (pages, page_size) =
        unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    (pages > 0 && page_size > 0).then(|| pages as u64 * page_size as u64)
}

#[cfg(not(unix))]
fn total_ram_bytes() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizing() {
        assert_eq!(permits_for_ram(4 * GIB), 1);
        assert_eq!(permits_for_ram(24 * GIB), 3);
        assert_eq!(permits_for_ram(512 * GIB), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_then_busy() {
        let admission = Admission::new(1, Duration::from_secs(30));
        let held = admission.acquire().await.unwrap();
        assert_eq!(admission.status().permits_in_use, 1);
        let err = admission.acquire().await.unwrap_err();
        assert!(err.is(hark_protocol::ErrorCode::Busy), "{err}");
        assert_eq!(admission.status().queued, 0);
        drop(held);
        assert_eq!(admission.status().permits_available, 1);
    }
}
