//! What the no-namespace launch path (`Mode::NoNamespaces`: a host that denies user namespaces)
//! is known not to stop, and why. A sandboxed cell of one of these scenarios that escapes in
//! that mode is marked `expected` instead of failing; every other scenario must still be
//! blocked. Scenarios that cannot run meaningfully on that path are SKIPs with the reason.
//! docs/portability.md explains each.

/// (scenario, why the no-namespace path lets it through).
pub const EXPECTED_ESCAPES: &[(&str, &str)] = &[
    (
        "interfaces",
        "no network namespace: the host's interfaces are listed (nothing can be sent through them)",
    ),
    (
        "supervisor-killed",
        "no pid namespace: when the supervisor is SIGKILLed, its subreaper dies with it and a daemonised process is adopted by the host (a cgroup would hold it, but nothing is left to kill it)",
    ),
    (
        "git-hook-plant",
        "no mount namespace: `protect` is degraded, Landlock cannot take write access back from .git/hooks inside the writable workspace",
    ),
    (
        "envrc-plant",
        "no mount namespace: `protect` is degraded, Landlock cannot take write access back from .envrc inside the writable workspace",
    ),
];

/// (scenario, why it does not apply to the no-namespace path): its cells are SKIPs.
pub const NOT_APPLICABLE: &[(&str, &str)] = &[
    (
        "netlink-change",
        "without a network namespace the probe would change the host's network, so it does not run; netlink-socket shows netlink sockets are denied",
    ),
    (
        "tmp-fill",
        "no mount namespace, so no tmpfs to fill: /tmp is the host's (not writable in the sandbox) and $TMPDIR a private host directory bounded by file_size only",
    ),
];

/// Why `scenario` does not apply to the no-namespace path, if it does not.
pub fn not_applicable(scenario: &str) -> Option<&'static str> {
    NOT_APPLICABLE
        .iter()
        .find(|(name, _)| *name == scenario)
        .map(|(_, why)| *why)
}

/// Why the no-namespace path lets `scenario` through, if it is expected to.
pub fn expected_escape(scenario: &str) -> Option<&'static str> {
    EXPECTED_ESCAPES
        .iter()
        .find(|(name, _)| *name == scenario)
        .map(|(_, why)| *why)
}
