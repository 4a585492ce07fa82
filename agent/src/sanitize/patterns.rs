//! The injection phrasings: data only; `sanitize.rs` compiles them.
//!
//! Shorthand (expanded by `sanitize::expand`): matching ignores case, a space stands for one or
//! more whitespace characters (so write `\s*` for optional space, never ` ?`), and `\w` is an
//! ASCII word character. Every entry carries an `example`: a realistic text it must fire on
//! (the tests check each). Phrasings common in ordinary technical text ("run the following
//! command", "add this to your .bashrc", "enable debug mode") are deliberately left out or
//! narrowed; the tests also check a corpus of such text stays quiet.

use std::fmt;

/// The family of an injection phrasing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Tells the model to drop its instructions.
    Override,
    /// Gives the model a new identity or mode.
    RoleChange,
    /// Known jailbreak openers and their vocabulary.
    Jailbreak,
    /// Asks for the system prompt or hidden instructions.
    PromptLeak,
    /// Tries to make the agent call a tool or run a command.
    ToolHijack,
    /// Asks to send secrets or data somewhere.
    Exfiltration,
    /// Asks to hide what is done from the user.
    Concealment,
    /// Fake chat-template markup or role headers.
    FakeMarkup,
    /// Claims authority (developer, administrator, the user's prior consent).
    Authority,
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Category::Override => "instruction override",
            Category::RoleChange => "role change",
            Category::Jailbreak => "jailbreak",
            Category::PromptLeak => "prompt leak",
            Category::ToolHijack => "tool hijack",
            Category::Exfiltration => "exfiltration",
            Category::Concealment => "concealment",
            Category::FakeMarkup => "fake markup",
            Category::Authority => "false authority",
        })
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Pattern {
    pub name: &'static str,
    pub category: Category,
    pub regex: &'static str,
    /// A realistic text the pattern fires on (the tests check it does).
    #[cfg_attr(not(test), allow(dead_code))]
    pub example: &'static str,
}

pub(super) const fn p(
    name: &'static str,
    category: Category,
    regex: &'static str,
    example: &'static str,
) -> Pattern {
    Pattern {
        name,
        category,
        regex,
        example,
    }
}

#[path = "patterns/actions.rs"]
mod actions;
#[path = "patterns/markup_and_authority.rs"]
mod markup_and_authority;
#[path = "patterns/override_and_role.rs"]
mod override_and_role;

/// Every phrasing, family by family.
pub(super) static PATTERNS: std::sync::LazyLock<Vec<Pattern>> = std::sync::LazyLock::new(|| {
    [
        override_and_role::PATTERNS,
        actions::PATTERNS,
        markup_and_authority::PATTERNS,
    ]
    .concat()
});
