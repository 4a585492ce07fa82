//! Profile loading: arbitrary bytes as a profile TOML through `policy::load_text`, the same
//! parsing, `extends` resolution and validation `profile validate` runs (via `policy::load`).
//!
//! Input: one or more profile texts separated by a line `#---`. The first is the profile under
//! test; the others are in-memory profiles named `p1`, `p2`, ... that `extends` can name (as
//! `p1` or `p1.toml`), next to the shipped profiles (`base`, `strict`, ...). Nothing is read
//! from the filesystem, so cycles, diamonds and deep chains are all reachable.
//!
//! Asserts: no panic; an error's message is one printable line (no raw line break or escape
//! character reaches the terminal); an accepted policy serialises (`profile show`).

#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use missy_supervisor::policy::{self, Context, PolicyError, SHIPPED, resolve};

const SEPARATOR: &str = "\n#---\n";

fn context() -> Context {
    Context {
        workspace: PathBuf::from("/work/space"),
        home: PathBuf::from("/home/fuzz"),
        cwd: PathBuf::from("/work/space/sub"),
    }
}

fuzz_target!(|data: &[u8]| {
    // The CLI reads profiles with `read_to_string`, which refuses invalid UTF-8 before parsing;
    // lossy conversion keeps the rest of such an input useful.
    let text = String::from_utf8_lossy(data);
    let mut docs = text.split(SEPARATOR);
    let root = docs.next().unwrap_or_default().to_string();
    let others: Vec<String> = docs.map(str::to_string).collect();

    let find_parent = |reference: &str, _dir: Option<&Path>| -> Result<_, PolicyError> {
        let name = reference.strip_suffix(".toml").unwrap_or(reference);
        let name = name.strip_prefix("./").unwrap_or(name);
        if let Some(i) = name.strip_prefix('p').and_then(|n| n.parse::<usize>().ok())
            && let Some(doc) = i.checked_sub(1).and_then(|i| others.get(i))
        {
            return resolve::parse(name, &format!("<mem>/{name}.toml"), None, doc.clone());
        }
        if let Some((shipped, text)) = SHIPPED.iter().find(|(n, _)| *n == name) {
            let origin = format!("<shipped>/{shipped}.toml");
            return resolve::parse(shipped, &origin, None, (*text).to_string());
        }
        Err(PolicyError::NotFound {
            name: reference.to_string(),
            searched: vec!["<mem>".into()],
        })
    };

    match policy::load_text("<input>/fuzz.toml", root, &find_parent, &context()) {
        Ok(policy) => {
            assert_eq!(
                policy.chain.last().map(String::as_str),
                Some("<input>/fuzz.toml")
            );
            serde_json::to_string(&policy).expect("an accepted policy serialises");
        }
        Err(err) => {
            let message = err.to_string();
            assert!(
                !message.chars().any(|c| c.is_control()),
                "error message with a raw control character: {message:?}"
            );
        }
    }
});
