//! `missy-sandbox changes`: the pending change sets of overlay-mode runs.

use clap::Subcommand;

use crate::changes::{self, ChangeSet};
use crate::commands::{EXIT_BAD_INPUT, report};

const EXIT_FAILED: i32 = 1;

#[derive(Debug, Subcommand)]
pub enum ChangesCommand {
    /// List the pending change sets: id, time, exit status, file count, workspace, command.
    List,

    /// Print a change set as a unified diff against the workspace as it is now.
    #[command(
        long_about = "Print the change set ID as a unified diff against the workspace as it is \
now: new and edited text files as line diffs, binary files (a NUL byte, or not UTF-8) summarised \
by size and sha256, deletions, new directories, directories whose old content is replaced, \
symlinks and their targets, mode changes, and entries that will never be applied (device nodes, \
setuid/setgid files). A renamed file or directory shows as a deletion plus an addition."
    )]
    Show {
        /// The change set's id (see `changes list`).
        id: String,
    },

    /// Apply a change set to its workspace, then remove it.
    #[command(
        long_about = "Apply the change set ID to the workspace it was made in, path by path: \
each file is written to a temporary name in its directory and renamed over the old one, and \
every path is resolved beneath the workspace without following a symlink, so a change set cannot \
write outside the workspace. Never applied, and reported: protected paths (.git/hooks, \
.git/config, shell startup files, editor and agent configuration...), setuid/setgid files and \
device nodes, and conflicts: a path whose content in the workspace changed since the run ended \
is left as it is now. The change set is removed when everything else applied; it is kept when a \
path failed.\n\nExit status: 0 applied (skips reported on stderr), 1 a path failed or the set is \
unreadable, 2 unknown id."
    )]
    Apply {
        /// The change set's id (see `changes list`).
        id: String,
    },

    /// Remove a change set without applying it.
    Discard {
        /// The change set's id (see `changes list`).
        id: String,
    },
}

pub fn run(cmd: ChangesCommand) -> i32 {
    let result = match cmd {
        ChangesCommand::List => list(),
        ChangesCommand::Show { id } => ChangeSet::open(&id).and_then(|set| {
            let changes = set.changes()?;
            let diff = changes::diff::render(&changes, &set.meta.workspace, &set.upper()).map_err(
                |e| changes::ChangesError::io("open the workspace", &set.meta.workspace, e),
            )?;
            print!("{diff}");
            Ok(0)
        }),
        ChangesCommand::Apply { id } => ChangeSet::open(&id).and_then(apply),
        ChangesCommand::Discard { id } => ChangeSet::open(&id).and_then(|set| {
            set.discard()?;
            eprintln!("missy-sandbox: change set {id} discarded");
            Ok(0)
        }),
    };
    match result {
        Ok(status) => status,
        Err(e @ (changes::ChangesError::Unknown(_) | changes::ChangesError::BadId(_))) => {
            report(&e);
            EXIT_BAD_INPUT
        }
        Err(e) => {
            report(&e);
            EXIT_FAILED
        }
    }
}

fn list() -> Result<i32, changes::ChangesError> {
    let sets = ChangeSet::list()?;
    if sets.is_empty() {
        eprintln!(
            "missy-sandbox: no pending change sets in {}",
            changes::store().display()
        );
    }
    for set in sets {
        let count = set
            .changes()
            .map(|c| c.len().to_string())
            .unwrap_or_else(|_| "?".into());
        let status = set
            .meta
            .exit_status
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        println!(
            "{}  {}  exit {}  {} change(s)  {}  [{}]  {}",
            set.meta.id,
            set.meta.created,
            status,
            count,
            set.meta.workspace.display(),
            set.meta.profile,
            set.meta.argv.join(" ")
        );
    }
    Ok(0)
}

fn apply(set: ChangeSet) -> Result<i32, changes::ChangesError> {
    let report = set.apply(&set.protected(), true)?;
    changes::print_report(&report);
    if report.failed.is_empty() {
        set.discard()?;
        Ok(0)
    } else {
        eprintln!(
            "missy-sandbox: change set {} kept: some paths failed",
            set.meta.id
        );
        Ok(EXIT_FAILED)
    }
}
