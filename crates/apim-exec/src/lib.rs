//! Runs APIM policy documents (work in progress: the injected world first).

pub mod io;
