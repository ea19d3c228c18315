//! The daemon's writer thread for small files written on the request path (issue 17, item 5):
//! connection journals (appends) and `grants.json` (atomic replaces). Handlers queue the bytes
//! and go on; ONE thread (`hark-disk`) writes them in queue order, so a slow disk (an fsync
//! storm, a full page cache) never stalls a runtime worker or a connection's read loop, and
//! two changes to one file land in the order they were made.
//!
//! What a caller gives up: the write has not happened when the call returns. A crash right after
//! a `permissions.grant` can lose that grant (the person approves again); journal lines were
//! never fsynced anyway. [`DiskWriter::flush`] waits for everything queued so far (shutdown,
//! tests).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;

use tokio::sync::oneshot;

enum Job {
    /// Appends to `path`, creating it (0600) and its directory when missing.
    Append {
        path: PathBuf,
        bytes: Vec<u8>,
    },
    /// Closes `path`'s file if it is open (its connection ended).
    Close {
        path: PathBuf,
    },
    /// Replaces `path` with `bytes` (temp file, fsync, rename).
    Replace {
        path: PathBuf,
        bytes: Vec<u8>,
    },
    Barrier(oneshot::Sender<()>),
}

/// A handle on the writer thread; cheap to clone.
#[derive(Clone, Debug)]
pub struct DiskWriter {
    jobs: mpsc::Sender<Job>,
}

impl DiskWriter {
    /// Starts the thread; it ends when the last handle is dropped.
    pub fn start() -> Self {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("hark-disk".into())
            .spawn(move || run(queue))
            .expect("spawn the disk writer thread");
        DiskWriter { jobs }
    }

    fn queue(&self, job: Job) {
        if self.jobs.send(job).is_err() {
            tracing::error!("the disk writer thread is gone");
        }
    }

    pub fn append(&self, path: PathBuf, bytes: Vec<u8>) {
        self.queue(Job::Append { path, bytes });
    }

    pub fn close(&self, path: PathBuf) {
        self.queue(Job::Close { path });
    }

    pub fn replace(&self, path: PathBuf, bytes: Vec<u8>) {
        self.queue(Job::Replace { path, bytes });
    }

    /// Waits until everything queued before this call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        self.queue(Job::Barrier(done));
        let _ = written.await;
    }
}

fn run(queue: mpsc::Receiver<Job>) {
    let mut open: HashMap<PathBuf, File> = HashMap::new();
    for job in queue {
        match job {
            Job::Append { path, bytes } => {
                if !open.contains_key(&path) {
                    match open_append(&path) {
                        Ok(file) => {
                            open.insert(path.clone(), file);
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot open a file to append to");
                            continue;
                        }
                    }
                }
                if let Some(file) = open.get_mut(&path)
                    && let Err(e) = file.write_all(&bytes)
                {
                    tracing::warn!(path = %path.display(), error = %e, "cannot append to a file");
                }
            }
            Job::Close { path } => {
                open.remove(&path);
            }
            Job::Replace { path, bytes } => {
                if let Err(e) = crate::runtime_files::write_private_atomic(&path, &bytes) {
                    tracing::error!(path = %path.display(), error = %e, "cannot write a file");
                }
            }
            Job::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}
