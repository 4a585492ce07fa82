//! `[env] secrets`: vault values resolved at launch, before anything runs, and the detector
//! that censors them (and every pattern) in the run's output.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::detector::Detector;
use super::known;
use super::vault::{Location, VaultError};
use crate::policy::Policy;

#[derive(Debug, thiserror::Error)]
pub enum SecretEnvError {
    #[error("profile secret {var} = vault://{key}: {source}")]
    Vault {
        var: String,
        key: String,
        #[source]
        source: VaultError,
    },
    #[error("cannot open the vault for the profile's secrets: {0}")]
    Open(#[source] VaultError),
    #[error(
        "vault entry `{0}` is not text without NUL bytes, so it cannot be an environment value"
    )]
    NotText(String),
    #[error(transparent)]
    Detector(#[from] super::SecretsError),
}

/// Variable name → value for each `[env] secrets` entry. The vault is opened only when the
/// profile names a secret.
pub fn resolve(
    policy: &Policy,
    vault_dir: Option<&std::path::Path>,
) -> Result<Vec<(String, Zeroizing<String>)>, SecretEnvError> {
    if policy.env_secrets.is_empty() {
        return Ok(Vec::new());
    }
    let vault = Location::resolve(vault_dir)
        .open()
        .map_err(SecretEnvError::Open)?;
    let mut out = Vec::new();
    for (var, key) in &policy.env_secrets {
        let value = vault.get(key).map_err(|source| SecretEnvError::Vault {
            var: var.clone(),
            key: key.clone(),
            source,
        })?;
        let text = std::str::from_utf8(&value)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| SecretEnvError::NotText(key.clone()))?;
        out.push((var.clone(), Zeroizing::new(text.to_string())));
    }
    Ok(out)
}

/// The run's detector: every pattern, plus each value in every form the censor catches.
pub fn detector(secrets: &[(String, Zeroizing<String>)]) -> Result<Arc<Detector>, SecretEnvError> {
    let forms: Vec<Zeroizing<Vec<u8>>> = secrets
        .iter()
        .flat_map(|(_, v)| known::forms(v.as_bytes()))
        .collect();
    let values: Vec<Vec<u8>> = forms.iter().map(|f| f.to_vec()).collect();
    let detector = Detector::new(&values);
    // The copies handed to the automaton builder are wiped here; the automaton keeps its own.
    for mut v in values {
        zeroize::Zeroize::zeroize(&mut v);
    }
    Ok(Arc::new(detector?))
}
