//! `apim-emu`: the command line. Owns the terminal: argument parsing, rendering, exit codes (see
//! [`apim_cli::cli`]).

use apim_cli::cli::{Cli, Parser as _};

fn main() -> std::process::ExitCode {
    apim_cli::cli::run(Cli::parse())
}
