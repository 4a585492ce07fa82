//! The hardening suite (integration/src/suite) under the `strict` profile, as root and as uid
//! 65534: no cell may fail, and every scenario's unsandboxed control must escape or be a SKIP
//! with a reason, so each check is shown able to fail. `make hardening` runs the whole suite
//! (every shipped profile); this keeps one profile of it in `make test`.

use crate::harness;
use missy_hardening::suite::{self, Column, Config, ProbeProgram, Status, User, report};

#[test]
fn the_strict_profile_blocks_every_escape_and_every_control_escapes() {
    let config = Config {
        sandbox: harness::sandbox_bin(),
        probe: ProbeProgram::missy_probe(harness::probe_bin()),
        profiles: vec!["strict".into()],
        users: vec![User::Current, User::Nobody],
        jobs: 4,
        only: Vec::new(),
        mode: Default::default(),
    };
    let r = suite::run(&config).expect("the suite runs");
    let table = report::text(&r);
    assert_eq!(r.count(Status::Fail), 0, "{table}");
    assert!(r.scenarios.len() >= 45, "{table}");
    for s in &r.scenarios {
        for user in [User::Current, User::Nobody] {
            let c = r
                .cell(s.name, user, &Column::Unsandboxed)
                .expect("every control cell ran");
            let explained = c.status == Status::Skip && !c.detail.trim().is_empty();
            assert!(
                (c.status == Status::Pass && c.word == "escaped") || explained,
                "{} as {}: the control must escape or say why not: {c:?}",
                s.name,
                user.label()
            );
        }
    }
}
