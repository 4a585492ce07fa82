//! Appending to the log: one `write(2)` of a pre-serialised line per record, under an exclusive
//! `flock` on a sidecar lock file that every writer (each `exec`, the daemon) takes. Under the
//! lock the writer reads the last record's link from the file's tail, seals its line to it,
//! rotates when the file would pass its size, and appends.
//!
//! Durability: no fsync. A record is in the page cache when `write` returns, so it survives a
//! crash of the supervisor or of the sandbox, but not a power loss of the host within the
//! kernel's writeback interval (about 30 s). An fsync per record would cost milliseconds on a
//! loaded disk, more than the whole launch; operators who need records off the host at once ship
//! the file (docs/audit.md).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::record::{self, GENESIS, Kind, Link, Record};

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot create the audit directory {}: {source}", path.display())]
    Directory {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the audit log {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock the audit log {}: {source}", path.display())]
    Lock {
        path: PathBuf,
        source: nix::errno::Errno,
    },
    #[error("cannot write to the audit log {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot rotate the audit log {}: {source}", path.display())]
    Rotate {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise an audit record: {0}")]
    Encode(#[from] serde_json::Error),
}

/// An audit log file and its rotation settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    pub path: PathBuf,
    /// Rotate before a write would make the file larger than this.
    pub max_size: u64,
    /// Rotated files kept (`audit.jsonl.1` … `.N`); older ones are removed.
    pub keep: u32,
}

impl LogFile {
    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// The n-th rotated file (`n` ≥ 1).
    pub fn rotated(&self, n: u32) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn open_err(&self, source: std::io::Error) -> WriteError {
        WriteError::Open {
            path: self.path.clone(),
            source,
        }
    }

    fn open_append(&self) -> Result<File, WriteError> {
        // Readable too: the last record's link is read under the lock.
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(|e| self.open_err(e))
    }

    /// Take the writers' lock, creating the directory (0700) and lock file (0600) if needed.
    fn lock(&self) -> Result<Flock<File>, WriteError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|source| WriteError::Directory {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(self.lock_path())
            .map_err(|e| self.open_err(e))?;
        Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, source)| WriteError::Lock {
            path: self.path.clone(),
            source,
        })
    }

    /// Append one record, chained to the last one in the file.
    pub fn append(&self, record: &Record) -> Result<Link, WriteError> {
        // Serialised before the lock: concurrent writers wait only for the write itself.
        let body = record.body()?;
        let _lock = self.lock()?;
        let mut file = self.open_append()?;
        let size = file.metadata().map_err(|e| self.open_err(e))?.len();
        let last = if size == 0 {
            None
        } else {
            Some(tail_link(&file, size).unwrap_or_else(|| Link {
                // An unreadable last line: chain to nothing, so `verify` shows the break here.
                seq: 0,
                hash: GENESIS.to_string(),
            }))
        };
        let estimate = body.len() as u64 + 200;
        let last = match last {
            Some(link) if size + estimate > self.max_size => {
                self.rotate()?;
                file = self.open_append()?;
                Some(self.write_anchor(&mut file, &link, record)?)
            }
            Some(link) => Some(link),
            None => None,
        };
        let last = match last {
            Some(link) => link,
            None => self.write_anchor(
                &mut file,
                &Link {
                    seq: 0,
                    hash: GENESIS.to_string(),
                },
                record,
            )?,
        };
        let (line, link) = record::seal(&body, last.seq + 1, &last.hash);
        self.write_line(&mut file, &line)?;
        Ok(link)
    }

    /// The first record of a file: chained to the last record of the file it continues.
    fn write_anchor(
        &self,
        file: &mut File,
        prev: &Link,
        like: &Record,
    ) -> Result<Link, WriteError> {
        let anchor = Record {
            event: Kind::Anchor,
            message: Some(if prev.hash == GENESIS {
                "new chain".to_string()
            } else {
                format!("continues {}", self.rotated(1).display())
            }),
            ..Record::empty(like.uid, like.pid)
        };
        let (line, link) = record::seal(&anchor.body()?, prev.seq + 1, &prev.hash);
        self.write_line(file, &line)?;
        Ok(link)
    }

    fn write_line(&self, file: &mut File, line: &str) -> Result<(), WriteError> {
        // O_APPEND and one write: the line lands whole at the end (the lock orders writers).
        file.write_all(line.as_bytes())
            .map_err(|source| WriteError::Write {
                path: self.path.clone(),
                source,
            })
    }

    /// `audit.jsonl` → `.1` → `.2` …; the oldest beyond `keep` is removed.
    fn rotate(&self) -> Result<(), WriteError> {
        let err = |source| WriteError::Rotate {
            path: self.path.clone(),
            source,
        };
        let _ = std::fs::remove_file(self.rotated(self.keep.max(1)));
        for n in (1..self.keep.max(1)).rev() {
            let from = self.rotated(n);
            if from.exists() {
                std::fs::rename(&from, self.rotated(n + 1)).map_err(err)?;
            }
        }
        std::fs::rename(&self.path, self.rotated(1)).map_err(err)
    }
}

/// The link of the file's last record, from its last 4 KiB (the chain fields end each line).
fn tail_link(file: &File, size: u64) -> Option<Link> {
    let len = size.min(4096);
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    file.read_exact_at(&mut buf, size - len).ok()?;
    record::last_link(&buf)
}

/// The default location: `/var/log/missy-sandbox/audit.jsonl` for root,
/// `$XDG_STATE_HOME/missy-sandbox/audit.jsonl` (or `~/.local/state/…`) for anyone else.
pub fn default_path(euid: u32, home: &Path) -> PathBuf {
    if euid == 0 {
        return PathBuf::from("/var/log/missy-sandbox/audit.jsonl");
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".local/state"));
    state.join("missy-sandbox/audit.jsonl")
}
