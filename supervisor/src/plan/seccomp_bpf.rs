//! The default seccomp programs, compiled from the deny table by `build.rs` (see there why).

use super::seccomp::{Arch, SeccompProgram};

include!(concat!(env!("OUT_DIR"), "/seccomp_programs.rs"));

/// The ordered programs to install on `arch`.
pub fn default_programs(arch: Arch) -> Vec<SeccompProgram> {
    let table = match arch {
        Arch::X86_64 => X86_64,
        Arch::Aarch64 => AARCH64,
    };
    table
        .iter()
        .map(|(name, instructions)| SeccompProgram {
            name: (*name).to_string(),
            instructions: instructions.to_vec(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_programs_match_a_fresh_compile_of_the_table() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let fresh = crate::plan::seccomp::compile_default(arch).unwrap();
            assert_eq!(default_programs(arch), fresh, "{}", arch.name());
        }
    }
}
