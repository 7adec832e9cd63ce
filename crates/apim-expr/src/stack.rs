//! Recursion without stack overflows: the parser, the translator and Rhai all recurse on nesting, and a
//! policy may be loaded or run on a thread with a small stack (a test thread, a tokio worker: 2 MiB).
//! Depth limits bound the work; this makes sure the stack never runs out before a limit is reached.

/// Room to keep free below any guarded call: one level of the deepest recursion fits in far less.
const RED_ZONE: usize = 128 * 1024;
/// How much to allocate when the red zone is reached (enough for many levels, reused for all of them).
const SEGMENT: usize = 2 * 1024 * 1024;

/// Runs `f`, first moving to a fresh stack segment if the current one is nearly used up.
pub fn guard<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// Stack Rhai needs per bracket level of a script, with room to spare (measured in debug builds, where
/// frames are largest; see the `deep_nesting_*` tests).
const PER_LEVEL: usize = 24 * 1024;

/// Runs a Rhai compile or eval of a script nested `depth` brackets deep: Rhai recurses internally where no
/// guard can reach, so the stack it needs is reserved up front.
pub fn guard_depth<R>(depth: usize, f: impl FnOnce() -> R) -> R {
    let need = RED_ZONE + depth * PER_LEVEL;
    stacker::maybe_grow(need, need.max(SEGMENT), f)
}

/// The deepest bracket nesting in generated Rhai source (string literals skipped).
pub fn nesting(script: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for c in script.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Stack per byte of expression text for recursion over its C# syntax tree (including dropping it).
const PER_BYTE: usize = 512;

/// Runs `f` with stack reserved for a syntax tree as deep as `len` bytes of text.
pub fn guard_bytes<R>(len: usize, f: impl FnOnce() -> R) -> R {
    let need = RED_ZONE + len * PER_BYTE;
    stacker::maybe_grow(need, need.max(SEGMENT), f)
}
