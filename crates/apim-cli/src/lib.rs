//! The `apim-emu` command's library half: rendering and subcommand logic, shared by `main` and the tests.
//!
//! Only this crate turns diagnostics into text, uses `anyhow`, and decides exit codes.

pub mod backends;
pub mod cli;
pub mod embedded;
pub mod eval;
pub mod expressions;
pub mod mock;
pub mod render;
pub mod scenario;
pub mod serve;
pub mod validate;

/// Resolves on Ctrl-C, or SIGTERM (what `docker stop` sends) on Unix. The handlers are installed when this is
/// called, not when first polled, so call it before announcing that the server is ready: a signal that arrives
/// after the announcement must not find the default handler (which kills the process with no clean exit).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
