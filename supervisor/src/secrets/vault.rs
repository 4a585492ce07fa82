//! The vault: named secrets, each sealed with ChaCha20-Poly1305 under a random 96-bit nonce,
//! in one JSON file. The entry's name is the associated data, so an entry moved to another name
//! fails to open. A `check` entry (a constant sealed the same way) tells a wrong key apart from
//! a damaged entry before anything is decrypted.
//!
//! The key is either 32 random bytes in a key file (mode 0600, directory 0700), or derived with
//! argon2id from a passphrase given in an environment variable (salt and cost in the file).
//! Files are replaced atomically (`store.rs`): a crash at any point leaves the old vault or the
//! new one, never a mix.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

#[path = "vault_store.rs"]
pub mod store;

pub use store::{Location, VaultError};

const FORMAT: &str = "missy-sandbox-vault";
const VERSION: u32 = 1;
const CHECK_AAD: &[u8] = b"missy-sandbox-vault-check";
const CHECK_PLAINTEXT: &[u8] = b"the key opens this vault";

/// argon2id cost for passphrase vaults: 64 MiB, 3 passes (above the OWASP minimum of 19 MiB, 2).
const ARGON2_M_KIB: u32 = 64 * 1024;
const ARGON2_T: u32 = 3;
const ARGON2_P: u32 = 1;

/// A 256-bit key, wiped from memory when dropped.
pub type Key = Zeroizing<[u8; 32]>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum KeySource {
    /// 32 random bytes in the key file beside the vault.
    KeyFile,
    /// argon2id over the passphrase in `MISSY_VAULT_PASSPHRASE`.
    Passphrase {
        salt: String,
        m_kib: u32,
        t: u32,
        p: u32,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

/// The file as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultFile {
    format: String,
    version: u32,
    pub key: KeySource,
    check: Sealed,
    entries: BTreeMap<String, Sealed>,
}

/// An open vault: the file and the key that opens it.
#[derive(Debug)]
pub struct Vault {
    file: VaultFile,
    key: Key,
}

/// Fill `buf` from the kernel's random source.
pub fn random(buf: &mut [u8]) -> Result<(), VaultError> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: getrandom writes at most `len` bytes into the live buffer we pass.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(VaultError::Random(e));
        }
        filled += n as usize;
    }
    Ok(())
}

pub fn random_key() -> Result<Key, VaultError> {
    let mut key = Zeroizing::new([0u8; 32]);
    random(key.as_mut())?;
    Ok(key)
}

/// A fresh passphrase key source (new salt) and the key it derives.
pub fn passphrase_key(passphrase: &[u8]) -> Result<(KeySource, Key), VaultError> {
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    let source = KeySource::Passphrase {
        salt: STANDARD.encode(salt),
        m_kib: ARGON2_M_KIB,
        t: ARGON2_T,
        p: ARGON2_P,
    };
    let key = derive(&source, passphrase)?;
    Ok((source, key))
}

/// The key a passphrase gives under `source`'s salt and cost.
pub fn derive(source: &KeySource, passphrase: &[u8]) -> Result<Key, VaultError> {
    let KeySource::Passphrase { salt, m_kib, t, p } = source else {
        return Err(VaultError::Damaged(
            "the vault uses a key file, not a passphrase".into(),
        ));
    };
    let salt = STANDARD
        .decode(salt)
        .map_err(|_| VaultError::Damaged("the passphrase salt is not base64".into()))?;
    let params = argon2::Params::new(*m_kib, *t, *p, Some(32))
        .map_err(|e| VaultError::Damaged(format!("argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase, &salt, key.as_mut())
        .map_err(|e| VaultError::Damaged(format!("argon2: {e}")))?;
    Ok(key)
}

fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, VaultError> {
    let cipher = ChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| VaultError::Crypto)?;
    let mut nonce = [0u8; 12];
    random(&mut nonce)?;
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| VaultError::Crypto)?;
    Ok(Sealed {
        nonce: STANDARD.encode(nonce),
        ciphertext: STANDARD.encode(ciphertext),
    })
}

fn open(key: &Key, aad: &[u8], sealed: &Sealed) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = ChaCha20Poly1305::new_from_slice(key.as_ref()).ok()?;
    let nonce: [u8; 12] = STANDARD.decode(&sealed.nonce).ok()?.try_into().ok()?;
    let ciphertext = STANDARD.decode(&sealed.ciphertext).ok()?;
    cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &ciphertext,
                aad,
            },
        )
        .ok()
        .map(Zeroizing::new)
}

/// Names are what profiles write after `vault://`: letters, digits, `_`, `-`, `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

impl Vault {
    /// A new, empty vault.
    pub fn create(key_source: KeySource, key: Key) -> Result<Vault, VaultError> {
        let check = seal(&key, CHECK_AAD, CHECK_PLAINTEXT)?;
        Ok(Vault {
            file: VaultFile {
                format: FORMAT.into(),
                version: VERSION,
                key: key_source,
                check,
                entries: BTreeMap::new(),
            },
            key,
        })
    }

    /// Parse a vault file's bytes (without the key yet).
    pub fn parse(bytes: &[u8]) -> Result<VaultFile, VaultError> {
        let file: VaultFile = serde_json::from_slice(bytes)
            .map_err(|e| VaultError::Damaged(format!("not a readable vault file ({e})")))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(VaultError::Damaged(format!(
                "format {:?} version {} is not {FORMAT} version {VERSION}",
                file.format, file.version
            )));
        }
        Ok(file)
    }

    /// Open a parsed file with `key`: refused unless the key opens the check entry and every
    /// entry authenticates, so nothing is ever written back over a tampered vault.
    pub fn unlock(file: VaultFile, key: Key) -> Result<Vault, VaultError> {
        match open(&key, CHECK_AAD, &file.check) {
            Some(v) if v.as_slice() == CHECK_PLAINTEXT => {}
            _ => return Err(VaultError::WrongKey),
        }
        let vault = Vault { file, key };
        for name in vault.file.entries.keys() {
            vault.get(name)?;
        }
        Ok(vault)
    }

    pub fn key_source(&self) -> &KeySource {
        &self.file.key
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.file.entries.keys().map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let sealed = self
            .file
            .entries
            .get(name)
            .ok_or_else(|| VaultError::NoSuchName(name.into()))?;
        open(&self.key, name.as_bytes(), sealed).ok_or_else(|| VaultError::Tampered(name.into()))
    }

    pub fn set(&mut self, name: &str, value: &[u8]) -> Result<(), VaultError> {
        if !valid_name(name) {
            return Err(VaultError::BadName(name.into()));
        }
        let sealed = seal(&self.key, name.as_bytes(), value)?;
        self.file.entries.insert(name.into(), sealed);
        Ok(())
    }

    pub fn remove(&mut self, name: &str) -> Result<(), VaultError> {
        self.file
            .entries
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| VaultError::NoSuchName(name.into()))
    }

    /// Re-seal every entry under a new key. Every entry is opened first, so a damaged vault is
    /// refused rather than half rotated.
    pub fn rekey(&mut self, key_source: KeySource, key: Key) -> Result<(), VaultError> {
        let mut values = Vec::new();
        for name in self.file.entries.keys() {
            values.push((name.clone(), self.get(name)?));
        }
        let mut next = Vault::create(key_source, key)?;
        for (name, value) in &values {
            next.set(name, value)?;
        }
        *self = next;
        Ok(())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>, VaultError> {
        let mut bytes = serde_json::to_vec_pretty(&self.file)
            .map_err(|e| VaultError::Damaged(e.to_string()))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        let mut v = Vault::create(KeySource::KeyFile, random_key().expect("key")).expect("create");
        v.set("github", b"ghp_value").expect("set");
        v
    }

    #[test]
    fn values_round_trip_and_nonces_differ() {
        let mut v = vault();
        assert_eq!(v.get("github").expect("get").as_slice(), b"ghp_value");
        v.set("other", b"ghp_value").expect("set");
        let (a, b) = (&v.file.entries["github"], &v.file.entries["other"]);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let v = vault();
        let file = Vault::parse(&v.to_bytes().expect("bytes")).expect("parse");
        let err = Vault::unlock(file, random_key().expect("key")).expect_err("wrong key");
        assert!(matches!(err, VaultError::WrongKey));
    }

    #[test]
    fn a_tampered_or_moved_entry_is_refused() {
        let mut v = vault();
        let mut sealed = v.file.entries["github"].clone();
        let mut ct = STANDARD.decode(&sealed.ciphertext).expect("b64");
        ct[0] ^= 1;
        sealed.ciphertext = STANDARD.encode(ct);
        v.file.entries.insert("github".into(), sealed);
        assert!(matches!(v.get("github"), Err(VaultError::Tampered(_))));
        let key = Zeroizing::new(*v.key);
        let file = Vault::parse(&v.to_bytes().expect("bytes")).expect("parse");
        assert!(matches!(
            Vault::unlock(file, key),
            Err(VaultError::Tampered(_))
        ));
        let mut v = vault();
        let moved = v.file.entries["github"].clone();
        v.file.entries.insert("gitlab".into(), moved);
        assert!(matches!(v.get("gitlab"), Err(VaultError::Tampered(_))));
    }

    #[test]
    fn truncated_files_are_refused() {
        let bytes = vault().to_bytes().expect("bytes");
        for len in [0, 1, bytes.len() / 2, bytes.len() - 3] {
            assert!(Vault::parse(&bytes[..len]).is_err(), "{len}");
        }
    }

    #[test]
    fn rekey_keeps_values() {
        let mut v = vault();
        let (source, key) = passphrase_key(b"correct horse").expect("derive");
        v.rekey(source.clone(), key).expect("rekey");
        let file = Vault::parse(&v.to_bytes().expect("bytes")).expect("parse");
        let again = derive(&source, b"correct horse").expect("derive");
        let v = Vault::unlock(file, again).expect("unlock");
        assert_eq!(v.get("github").expect("get").as_slice(), b"ghp_value");
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("github.token-2_x"));
        for bad in ["", "a b", "a/b", "vault://x", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
