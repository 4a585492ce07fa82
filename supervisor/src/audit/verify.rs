//! `audit verify`: walk the chain through a log and its rotated files, oldest first, and name the
//! first record that was edited, is missing, or is out of order.
//!
//! Each record carries its own hash (over its bytes before the `hash` field), the hash of the
//! record before it (`prev`) and a sequence number that counts up by one along the chain. So an
//! edited record fails its own hash; a deleted one leaves a gap in `seq`; a moved one appears
//! where another `seq` was expected and is found further on; a record forged with a fresh hash
//! breaks the next record's `prev`. The first record of every file is an anchor whose `prev` is
//! the last hash of the file before it: rotation does not break the chain, and a file whose
//! predecessors were rotated away still verifies on its own.

use std::path::{Path, PathBuf};

use super::record::{Chained, GENESIS, Kind, Sealed};

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {what}", file.display())]
pub struct Broken {
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
    pub what: String,
}

/// What a verified chain holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub records: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("chain broken at {0}")]
    Broken(#[from] Broken),
}

/// The files of a log, oldest first: `path.N` … `path.1`, then `path`.
pub fn chain_files(path: &Path) -> Vec<PathBuf> {
    let mut rotated: Vec<(u32, PathBuf)> = Vec::new();
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let file = entry.file_name();
            let n = file
                .to_str()
                .and_then(|f| f.strip_prefix(name)?.strip_prefix('.')?.parse::<u32>().ok());
            if let Some(n) = n {
                rotated.push((n, path.with_file_name(file)));
            }
        }
    }
    rotated.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    files.push(path.to_path_buf());
    files
}

/// Verify `files` (oldest first) as one chain.
pub fn verify(files: &[PathBuf]) -> Result<Summary, VerifyError> {
    let mut summary = Summary::default();
    let mut last: Option<(u64, String)> = None;
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| VerifyError::Read {
            path: path.clone(),
            source,
        })?;
        summary.files += 1;
        let broken = |line: usize, what: String| Broken {
            file: path.clone(),
            line,
            what,
        };
        let mut records: Vec<(usize, Chained)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let sealed = Sealed::parse(line).map_err(|e| broken(i + 1, e))?;
            if sealed.computed != sealed.chained.hash {
                return Err(broken(
                    i + 1,
                    format!(
                        "record {} was edited: its content does not match its hash",
                        sealed.chained.seq
                    ),
                )
                .into());
            }
            records.push((i + 1, sealed.chained));
        }
        for (at, (line, rec)) in records.iter().enumerate() {
            if at == 0 {
                if rec.record.event != Kind::Anchor {
                    return Err(broken(
                        *line,
                        format!(
                            "the file's anchor is missing: its first record (seq {}) is not an anchor",
                            rec.seq
                        ),
                    )
                    .into());
                }
                // The first file may continue files that were rotated away.
                if let Some((seq, hash)) = &last
                    && (rec.prev != *hash || rec.seq != seq + 1)
                {
                    return Err(broken(
                        *line,
                        format!(
                            "the anchor does not continue the previous file (seq {} after {seq})",
                            rec.seq
                        ),
                    )
                    .into());
                }
                if last.is_none() && rec.prev == GENESIS && rec.seq != 1 {
                    return Err(broken(*line, "a new chain must start at seq 1".into()).into());
                }
            } else if let Some((seq, hash)) = &last {
                let expected = seq + 1;
                if rec.seq != expected {
                    let moved = records[at + 1..].iter().find(|(_, r)| r.seq == expected);
                    let what = match moved {
                        Some((moved_line, _)) => format!(
                            "records are out of order: seq {} stands where seq {expected} belongs (found at line {moved_line})",
                            rec.seq
                        ),
                        None if rec.seq > expected => format!(
                            "record(s) missing: seq {expected}{} deleted before this record (seq {})",
                            if rec.seq - expected > 1 {
                                format!("..{}", rec.seq - 1)
                            } else {
                                String::new()
                            },
                            rec.seq
                        ),
                        None => {
                            format!("records are out of order: seq {} after seq {seq}", rec.seq)
                        }
                    };
                    return Err(broken(*line, what).into());
                }
                if rec.prev != *hash {
                    return Err(broken(
                        *line,
                        format!(
                            "record {} does not chain to record {seq}: the record before it was replaced",
                            rec.seq
                        ),
                    )
                    .into());
                }
            }
            summary.first_seq.get_or_insert(rec.seq);
            summary.last_seq = Some(rec.seq);
            summary.records += 1;
            last = Some((rec.seq, rec.hash.clone()));
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Kind, LogFile, Record};

    fn log(dir: &Path, max_size: u64, n: usize) -> LogFile {
        let log = LogFile {
            path: dir.join("audit.jsonl"),
            max_size,
            keep: 100,
        };
        for i in 0..n {
            let rec = Record {
                event: Kind::ExecStart,
                message: Some(format!("record {i}")),
                ..Record::empty(0, 1)
            };
            log.append(&rec).unwrap();
        }
        log
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn rewrite(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn a_written_log_verifies_across_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), 2000, 40);
        let files = chain_files(&log.path);
        assert!(files.len() > 3, "{files:?}");
        let summary = verify(&files).unwrap();
        // 40 records plus one anchor per file.
        assert_eq!(summary.records, 40 + files.len());
        // The newest file alone verifies too.
        verify(&files[files.len() - 1..]).unwrap();
        // A missing middle file is caught by the next file's anchor.
        let gap = [files[0].clone(), files[2].clone()];
        let err = verify(&gap).unwrap_err().to_string();
        assert!(err.contains("does not continue"), "{err}");
    }

    #[test]
    fn edits_deletions_and_reordering_are_pinpointed() {
        let dir = tempfile::tempdir().unwrap();
        let log = log(dir.path(), u64::MAX, 6);
        let good = lines(&log.path);
        let check = |lines: Vec<String>, want_line: usize, want: &str| {
            rewrite(&log.path, &lines);
            match verify(std::slice::from_ref(&log.path)) {
                Err(VerifyError::Broken(b)) => {
                    assert_eq!(b.line, want_line, "{b}");
                    assert!(b.what.contains(want), "{b}");
                }
                other => panic!("expected a break at line {want_line}, got {other:?}"),
            }
        };
        let mut edited = good.clone();
        edited[3] = edited[3].replace("record 2", "record X");
        check(edited, 4, "was edited");
        let mut deleted = good.clone();
        deleted.remove(3);
        check(deleted, 4, "seq 4 deleted");
        let mut swapped = good.clone();
        swapped.swap(2, 3);
        check(swapped, 3, "out of order");
        let mut no_anchor = good.clone();
        no_anchor.remove(0);
        check(no_anchor, 1, "anchor is missing");
        rewrite(&log.path, &good);
        assert_eq!(verify(std::slice::from_ref(&log.path)).unwrap().records, 7);
    }
}
