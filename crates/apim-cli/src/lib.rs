//! The `apim-emu` command's library half: rendering and subcommand logic, shared by `main` and the tests.
//!
//! Only this crate turns diagnostics into text, uses `anyhow`, and decides exit codes.

pub mod backends;
pub mod eval;
pub mod expressions;
pub mod render;
pub mod scenario;
pub mod serve;
pub mod validate;
