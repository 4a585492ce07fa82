//! What a workspace path was when the run ended, to notice later changes before a kept change
//! set is applied over them.

use std::io::Read;
use std::os::fd::BorrowedFd;
use std::path::Path;

use nix::sys::stat::SFlag;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::fsat;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Base {
    Absent,
    Dir,
    File {
        sha256: String,
    },
    Symlink {
        target: String,
    },
    /// Anything else, or a path that cannot be reached without following a symlink.
    Other,
}

impl std::fmt::Display for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Base::Absent => f.write_str("absent"),
            Base::Dir => f.write_str("a directory"),
            Base::File { sha256 } => {
                write!(f, "a file (sha256 {})", &sha256[..12.min(sha256.len())])
            }
            Base::Symlink { target } => write!(f, "a symlink to {target}"),
            Base::Other => f.write_str("something else"),
        }
    }
}

/// The state of `rel` below the workspace fd `ws`, never following a symlink.
pub fn of(ws: BorrowedFd<'_>, rel: &Path) -> Base {
    let parent = rel.parent().unwrap_or(Path::new(""));
    let Some(name) = rel.file_name() else {
        return Base::Dir;
    };
    let dir = match fsat::open_dir(ws, parent) {
        Ok(d) => d,
        Err(nix::errno::Errno::ENOENT) => return Base::Absent,
        Err(_) => return Base::Other,
    };
    let dir = std::os::fd::AsFd::as_fd(&dir);
    let st = match fsat::stat(dir, name) {
        Ok(Some(st)) => st,
        Ok(None) => return Base::Absent,
        Err(_) => return Base::Other,
    };
    match fsat::kind(&st) {
        SFlag::S_IFDIR => Base::Dir,
        SFlag::S_IFLNK => match nix::fcntl::readlinkat(dir, name) {
            Ok(t) => Base::Symlink {
                target: t.to_string_lossy().into_owned(),
            },
            Err(_) => Base::Other,
        },
        SFlag::S_IFREG => match fsat::open_file(dir, name).map(std::fs::File::from) {
            Ok(file) => hash(file).map_or(Base::Other, |sha256| Base::File { sha256 }),
            Err(_) => Base::Other,
        },
        _ => Base::Other,
    }
}

/// Hex sha256 of everything `r` yields.
pub fn hash(mut r: impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
