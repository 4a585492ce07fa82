//! The wrappers the policy looks through (`env`, `nice`, `timeout`, `sudo`, ...): how each lays
//! out its options, so the program it runs can be found and checked like any other.

use super::{PolicyError, check_assignment, static_word};
use crate::shell::Word;

/// How a wrapper's options are laid out, enough to find the program it runs.
pub(super) struct Wrapper {
    pub(super) name: &'static str,
    /// Options without a value (long ones may also appear as `--opt=value`).
    flags: &'static [&'static str],
    /// Options that take a value: `-u x`, `-ux`, `--user x`, `--user=x`.
    valued: &'static [&'static str],
    /// Positional operands before the program (`timeout DURATION`).
    operands: usize,
    /// `NAME=value` words before the program (`env`).
    assignments: bool,
    /// `-N` is a number (`nice -5`).
    numeric: bool,
}

const fn wrapper(name: &'static str) -> Wrapper {
    Wrapper {
        name,
        flags: &[],
        valued: &[],
        operands: 0,
        assignments: false,
        numeric: false,
    }
}

pub(super) const WRAPPERS: &[Wrapper] = &[
    Wrapper {
        flags: &[
            "-",
            "-i",
            "--ignore-environment",
            "-0",
            "--null",
            "-v",
            "--debug",
        ],
        valued: &["-u", "--unset", "-C", "--chdir"],
        assignments: true,
        ..wrapper("env")
    },
    Wrapper {
        flags: &["-p", "-v", "-V"],
        ..wrapper("command")
    },
    Wrapper {
        flags: &["-c", "-l"],
        valued: &["-a"],
        ..wrapper("exec")
    },
    Wrapper {
        valued: &["-n", "--adjustment"],
        numeric: true,
        ..wrapper("nice")
    },
    wrapper("nohup"),
    Wrapper {
        flags: &["--preserve-status", "--foreground", "-v", "--verbose"],
        valued: &["-s", "--signal", "-k", "--kill-after"],
        operands: 1,
        ..wrapper("timeout")
    },
    Wrapper {
        flags: &[
            "-p",
            "-a",
            "--append",
            "-v",
            "--verbose",
            "-q",
            "--quiet",
            "--portability",
        ],
        valued: &["-o", "--output", "-f", "--format"],
        ..wrapper("time")
    },
    Wrapper {
        valued: &["-i", "--input", "-o", "--output", "-e", "--error"],
        ..wrapper("stdbuf")
    },
    Wrapper {
        flags: &["-c", "--ctty", "-f", "--fork", "-w", "--wait"],
        ..wrapper("setsid")
    },
    Wrapper {
        flags: &[
            "-A",
            "--askpass",
            "-b",
            "--background",
            "-E",
            "--preserve-env",
            "-H",
            "--set-home",
            "-i",
            "--login",
            "-k",
            "--reset-timestamp",
            "-n",
            "--non-interactive",
            "-P",
            "--preserve-groups",
            "-S",
            "--stdin",
            "-s",
            "--shell",
        ],
        valued: &[
            "-u",
            "--user",
            "-g",
            "--group",
            "-C",
            "--close-from",
            "-D",
            "--chdir",
            "-h",
            "--host",
            "-p",
            "--prompt",
            "-r",
            "--role",
            "-t",
            "--type",
            "-T",
            "--command-timeout",
            "-U",
            "--other-user",
        ],
        ..wrapper("sudo")
    },
    Wrapper {
        flags: &["-n", "-s"],
        valued: &["-u", "-C"],
        ..wrapper("doas")
    },
];

impl Wrapper {
    /// The words from the wrapped program on (empty when there is none).
    pub(super) fn wrapped<'w>(&self, args: &'w [Word]) -> Result<&'w [Word], PolicyError> {
        let mut i = 0;
        while let Some(w) = args.get(i) {
            static_word(w)?;
            let v = w.value.as_str();
            if v == "--" {
                i += 1;
                break;
            }
            if self.flags.contains(&v) {
                i += 1;
                continue;
            }
            if !v.starts_with('-') || v == "-" {
                break;
            }
            let consumed = self
                .option_words(v)
                .ok_or_else(|| PolicyError::WrapperOption {
                    wrapper: self.name,
                    option: v.to_owned(),
                    offset: w.span.start,
                })?;
            if consumed == 2
                && let Some(value) = args.get(i + 1)
            {
                static_word(value)?;
            }
            i += consumed;
        }
        for _ in 0..self.operands {
            if let Some(w) = args.get(i) {
                static_word(w)?;
                i += 1;
            }
        }
        while let Some(w) = args.get(i).filter(|_| self.assignments) {
            static_word(w)?;
            let Some((name, _)) = w.value.split_once('=') else {
                break;
            };
            check_assignment(name, w)?;
            i += 1;
        }
        Ok(args.get(i..).unwrap_or(&[]))
    }

    /// How many words an option starting with `-` takes (1 or 2), or `None` if unknown.
    fn option_words(&self, v: &str) -> Option<usize> {
        if self.valued.contains(&v) {
            return Some(2);
        }
        if let Some((opt, _)) = v.split_once('=').filter(|_| v.starts_with("--")) {
            return (self.valued.contains(&opt) || self.flags.contains(&opt)).then_some(1);
        }
        if v.starts_with("--") {
            return None;
        }
        if self.numeric && v[1..].parse::<i64>().is_ok() {
            return Some(1);
        }
        // A cluster of short options: `-EH`, `-uroot`, `-n5`.
        for (i, c) in v.char_indices().skip(1) {
            let short = format!("-{c}");
            if self.flags.contains(&short.as_str()) {
                continue;
            }
            if self.valued.contains(&short.as_str()) {
                let attached = i + c.len_utf8() < v.len();
                return Some(if attached { 1 } else { 2 });
            }
            return None;
        }
        Some(1)
    }
}
