//! `missy-sandbox vault`: init, set, get, list, rm, rotate-key.

use std::io::{IsTerminal, Read, Write};

use zeroize::Zeroizing;

use crate::cli::{VaultArgs, VaultCommand};
use crate::commands::{EXIT_BAD_INPUT, report};
use crate::secrets::vault::store::PASSPHRASE_ENV;
use crate::secrets::vault::{Location, VaultError, valid_name};

/// Exit status when the vault cannot be read or changed.
const EXIT_VAULT: i32 = 1;

pub fn run(args: VaultArgs) -> i32 {
    let loc = Location::resolve(args.vault_dir.as_deref());
    match execute(&loc, args.command) {
        Ok(()) => 0,
        Err(Failure::Input(msg)) => {
            report(&msg);
            EXIT_BAD_INPUT
        }
        Err(Failure::Vault(e)) => {
            report(&e);
            EXIT_VAULT
        }
    }
}

enum Failure {
    Input(String),
    Vault(VaultError),
}

impl From<VaultError> for Failure {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::BadName(_) => Failure::Input(e.to_string()),
            e => Failure::Vault(e),
        }
    }
}

fn execute(loc: &Location, command: VaultCommand) -> Result<(), Failure> {
    match command {
        VaultCommand::Init { passphrase } => {
            let pass = if passphrase {
                let value = std::env::var_os(PASSPHRASE_ENV)
                    .filter(|v| !v.is_empty())
                    .ok_or(VaultError::NoPassphrase)?;
                Some(Zeroizing::new(std::os::unix::ffi::OsStringExt::into_vec(
                    value,
                )))
            } else {
                None
            };
            loc.init(pass.as_deref().map(Vec::as_slice))?;
            eprintln!("missy-sandbox: created the vault in {}", loc.dir.display());
        }
        VaultCommand::Set { name } => {
            if !valid_name(&name) {
                return Err(VaultError::BadName(name).into());
            }
            // Open first: a wrong key is reported before the user types the secret.
            let mut vault = loc.open()?;
            let value = read_value(&name)?;
            vault.set(&name, &value)?;
            loc.save(&vault)?;
        }
        VaultCommand::Get { name } => {
            let value = loc.open()?.get(&name)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&value)
                .and_then(|()| {
                    if out.is_terminal() {
                        out.write_all(b"\n")?;
                    }
                    out.flush()
                })
                .map_err(|e| Failure::Input(format!("cannot write the value: {e}")))?;
        }
        VaultCommand::List => {
            let vault = loc.open()?;
            for name in vault.names() {
                println!("{name}");
            }
        }
        VaultCommand::Rm { name } => {
            let mut vault = loc.open()?;
            vault.remove(&name)?;
            loc.save(&vault)?;
        }
        VaultCommand::RotateKey => {
            let mut vault = loc.open()?;
            loc.rotate(&mut vault)?;
            eprintln!("missy-sandbox: the vault is now sealed under a new key");
        }
    }
    Ok(())
}

/// The value for `set`: prompted for without echo on a terminal, else all of stdin with one
/// trailing newline removed (so `echo value |` works as expected).
fn read_value(name: &str) -> Result<Zeroizing<Vec<u8>>, Failure> {
    let stdin = std::io::stdin();
    let mut value = Zeroizing::new(Vec::new());
    if stdin.is_terminal() {
        eprint!("Value for {name} (not echoed): ");
        let line = read_without_echo().map_err(|e| Failure::Input(format!("reading: {e}")))?;
        eprintln!();
        value.extend_from_slice(line.as_bytes());
    } else {
        stdin
            .lock()
            .read_to_end(&mut value)
            .map_err(|e| Failure::Input(format!("cannot read the value from stdin: {e}")))?;
    }
    if value.last() == Some(&b'\n') {
        value.pop();
        if value.last() == Some(&b'\r') {
            value.pop();
        }
    }
    if value.is_empty() {
        return Err(Failure::Input(
            "the value is empty; nothing was stored".into(),
        ));
    }
    Ok(value)
}

fn read_without_echo() -> std::io::Result<Zeroizing<String>> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSAFLUSH, &quiet)?;
    let mut line = Zeroizing::new(String::new());
    let result = stdin.read_line(&mut line);
    tcsetattr(&stdin, SetArg::TCSAFLUSH, &saved)?;
    result?;
    Ok(line)
}
