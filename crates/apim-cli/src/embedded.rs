//! Files built into the binary: the seed's active-passive failover setup (`policies/foundry-failover`), so
//! `apim-emu serve` with no arguments works from any folder and in the container. They are addressed by paths
//! under [`ROOT`], which every file read in this crate checks first.

use std::path::Path;

/// The pseudo-folder embedded files live in.
pub const ROOT: &str = "<apim-emu>";

/// The demo's API policy.
pub const DEMO_POLICY: &str = "<apim-emu>/policies/foundry-failover/api.xml";
/// The demo's backends template (parameters `primaryUrl`, `backupUrl`).
pub const DEMO_BACKENDS: &str = "<apim-emu>/policies/foundry-failover/backends.json";

const FILES: &[(&str, &str)] = &[
    (
        DEMO_POLICY,
        include_str!("../../../policies/foundry-failover/api.xml"),
    ),
    (
        DEMO_BACKENDS,
        include_str!("../../../policies/foundry-failover/backends.json"),
    ),
];

/// The embedded file at `path`, if it is one.
pub fn file(path: &Path) -> Option<&'static str> {
    let path = path.to_str()?;
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, text)| *text)
}

/// `std::fs::read_to_string`, embedded files first.
pub fn read_to_string(path: &Path) -> std::io::Result<String> {
    match file(path) {
        Some(text) => Ok(text.to_string()),
        None => std::fs::read_to_string(path),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_files_are_embedded() {
        let policy = super::file(std::path::Path::new(super::DEMO_POLICY)).expect("test value");
        assert!(policy.contains("foundry-model-pool"));
        let backends = super::file(std::path::Path::new(super::DEMO_BACKENDS)).expect("test value");
        assert!(backends.contains("primaryUrl") && backends.contains("backupUrl"));
        assert!(super::file(std::path::Path::new("<apim-emu>/nothing")).is_none());
    }
}
