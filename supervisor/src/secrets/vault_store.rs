//! Where the vault lives and how it is read and replaced on disk.
//!
//! `DIR/vault.json` holds the sealed entries; `DIR/vault.key` the key (key-file vaults). `DIR`
//! is `--vault-dir`, else `$MISSY_VAULT_DIR`, else `$XDG_CONFIG_HOME/missy-sandbox`, else
//! `~/.config/missy-sandbox`. The directory is created 0700 and the key file 0600.
//!
//! Every write goes to a temporary file in the same directory, is fsynced, renamed over the old
//! file and the directory fsynced: a crash leaves the old file or the new one. A key rotation
//! writes the new key as `vault.key.next` first; if a crash comes between the vault and the key
//! rename, opening finds the vault sealed under `vault.key.next` and finishes the rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use super::{Key, KeySource, Vault};

/// Environment variable holding the passphrase of a passphrase vault. The sandbox never gets it:
/// its name is secret-looking, and such names are never passed.
pub const PASSPHRASE_ENV: &str = "MISSY_VAULT_PASSPHRASE";
/// The new passphrase for `rotate-key` on a passphrase vault.
pub const NEW_PASSPHRASE_ENV: &str = "MISSY_VAULT_NEW_PASSPHRASE";
/// Test hook: when set to a path, a vault write stops half-way through writing its temporary
/// file, creates that path and waits to be killed (the crash tests use it).
pub const FAULT_PAUSE_ENV: &str = "MISSY_VAULT_TEST_PAUSE";

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no vault at {0}; create one with `missy-sandbox vault init`")]
    Missing(PathBuf),
    #[error("a vault already exists at {0}")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the vault is damaged: {0}; the file was left unchanged")]
    Damaged(String),
    #[error("the key does not open this vault (wrong key file or passphrase); nothing was changed")]
    WrongKey,
    #[error("vault entry `{0}` fails authentication: it was tampered with or corrupted")]
    Tampered(String),
    #[error("no secret named `{0}` in the vault")]
    NoSuchName(String),
    #[error("`{0}` is not a valid secret name; expected letters, digits, `_`, `-` and `.`")]
    BadName(String),
    #[error("this vault is sealed with a passphrase: set {PASSPHRASE_ENV}")]
    NoPassphrase,
    #[error("the key file {0} must be 32 bytes")]
    BadKeyFile(PathBuf),
    #[error("cannot read random bytes: {0}")]
    Random(std::io::Error),
    #[error("encryption failed")]
    Crypto,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VaultError + '_ {
    move |source| VaultError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The vault's directory and files.
#[derive(Debug, Clone)]
pub struct Location {
    pub dir: PathBuf,
}

impl Location {
    /// `flag`, else `$MISSY_VAULT_DIR`, else the user's config directory.
    pub fn resolve(flag: Option<&Path>) -> Location {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let dir = flag
            .map(Path::to_path_buf)
            .or_else(|| env("MISSY_VAULT_DIR"))
            .or_else(|| env("XDG_CONFIG_HOME").map(|d| d.join("missy-sandbox")))
            .or_else(|| env("HOME").map(|h| h.join(".config/missy-sandbox")))
            .unwrap_or_else(|| PathBuf::from("/nonexistent/missy-sandbox"));
        Location { dir }
    }

    pub fn vault(&self) -> PathBuf {
        self.dir.join("vault.json")
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.join("vault.key")
    }

    fn next_key_file(&self) -> PathBuf {
        self.dir.join("vault.key.next")
    }

    /// Create a new vault: the directory (0700), the key file (0600) unless a passphrase is
    /// used, and the empty vault.
    pub fn init(&self, passphrase: Option<&[u8]>) -> Result<Vault, VaultError> {
        if self.vault().exists() {
            return Err(VaultError::Exists(self.vault()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io(&self.dir))?;
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700)).map_err(io(&self.dir))?;
        let vault = match passphrase {
            Some(p) => {
                let (source, key) = super::passphrase_key(p)?;
                Vault::create(source, key)?
            }
            None => {
                let key = super::random_key()?;
                atomic_write(&self.key_file(), key.as_ref(), 0o600)?;
                Vault::create(KeySource::KeyFile, key)?
            }
        };
        self.save(&vault)?;
        Ok(vault)
    }

    /// Read and unlock the vault (the passphrase, for a passphrase vault, from
    /// [`PASSPHRASE_ENV`]).
    pub fn open(&self) -> Result<Vault, VaultError> {
        let path = self.vault();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::Missing(path));
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let file = Vault::parse(&bytes)?;
        match &file.key {
            KeySource::KeyFile => {
                let key = read_key(&self.key_file())?;
                match Vault::unlock(file.clone(), key) {
                    Err(VaultError::WrongKey) if self.next_key_file().exists() => {
                        // A rotation crashed after the vault was replaced: finish it.
                        let vault = Vault::unlock(file, read_key(&self.next_key_file())?)?;
                        fs::rename(self.next_key_file(), self.key_file())
                            .map_err(io(&self.key_file()))?;
                        sync_dir(&self.dir)?;
                        Ok(vault)
                    }
                    other => other,
                }
            }
            source @ KeySource::Passphrase { .. } => {
                let pass = passphrase_from_env(PASSPHRASE_ENV).ok_or(VaultError::NoPassphrase)?;
                let key = super::derive(source, &pass)?;
                Vault::unlock(file, key)
            }
        }
    }

    pub fn save(&self, vault: &Vault) -> Result<(), VaultError> {
        atomic_write(&self.vault(), &vault.to_bytes()?, 0o600)
    }

    /// Re-seal under a new key and store both, crash-safely (see the module comment).
    pub fn rotate(&self, vault: &mut Vault) -> Result<(), VaultError> {
        match vault.key_source() {
            KeySource::KeyFile => {
                let key = super::random_key()?;
                atomic_write(&self.next_key_file(), key.as_ref(), 0o600)?;
                vault.rekey(KeySource::KeyFile, key)?;
                self.save(vault)?;
                fs::rename(self.next_key_file(), self.key_file()).map_err(io(&self.key_file()))?;
                sync_dir(&self.dir)
            }
            KeySource::Passphrase { .. } => {
                let pass =
                    passphrase_from_env(NEW_PASSPHRASE_ENV).ok_or(VaultError::NoPassphrase)?;
                let (source, key) = super::passphrase_key(&pass)?;
                vault.rekey(source, key)?;
                self.save(vault)
            }
        }
    }
}

fn passphrase_from_env(name: &str) -> Option<Zeroizing<Vec<u8>>> {
    use std::os::unix::ffi::OsStringExt;
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(|v| Zeroizing::new(v.into_vec()))
}

fn read_key(path: &Path) -> Result<Key, VaultError> {
    let mut bytes = Zeroizing::new(Vec::new());
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io(path))?;
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(VaultError::BadKeyFile(path.to_path_buf()));
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Replace `path` with `bytes`: temporary file, fsync, rename, fsync of the directory.
pub fn atomic_write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), VaultError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
            .map_err(io(&tmp))?;
        let half = bytes.len() / 2;
        f.write_all(&bytes[..half]).map_err(io(&tmp))?;
        pause_for_fault_test();
        f.write_all(&bytes[half..]).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, path).map_err(io(path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// See [`FAULT_PAUSE_ENV`].
fn pause_for_fault_test() {
    if let Some(marker) = std::env::var_os(FAULT_PAUSE_ENV) {
        let _ = File::create(marker);
        loop {
            std::thread::sleep(std::time::Duration::from_secs(60));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_private_files_and_round_trips() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = Location {
            dir: dir.path().join("v"),
        };
        let mut v = loc.init(None).expect("init");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode(&loc.dir), 0o700);
        assert_eq!(mode(&loc.key_file()), 0o600);
        assert!(matches!(loc.init(None), Err(VaultError::Exists(_))));
        v.set("a", b"value-a").expect("set");
        loc.save(&v).expect("save");
        let mut again = loc.open().expect("open");
        assert_eq!(again.get("a").expect("get").as_slice(), b"value-a");
        loc.rotate(&mut again).expect("rotate");
        assert_eq!(
            loc.open().expect("open").get("a").expect("get").as_slice(),
            b"value-a"
        );
        assert!(!loc.next_key_file().exists());
    }

    #[test]
    fn an_interrupted_rotation_is_finished_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let loc = Location {
            dir: dir.path().to_path_buf(),
        };
        let mut v = loc.init(None).expect("init");
        v.set("a", b"value-a").expect("set");
        // The crash: new key written and the vault re-sealed, the key rename never happened.
        let key = crate::secrets::vault::random_key().expect("key");
        atomic_write(&loc.next_key_file(), key.as_ref(), 0o600).expect("write");
        v.rekey(KeySource::KeyFile, key).expect("rekey");
        loc.save(&v).expect("save");
        assert_eq!(
            loc.open().expect("open").get("a").expect("get").as_slice(),
            b"value-a"
        );
        assert!(!loc.next_key_file().exists());
    }
}
