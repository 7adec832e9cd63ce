//! Derives, from the runtime's own `match` arms, which static members, constructors and instance member
//! names apim-emu implements, so that the translator can flag anything else at load time ("not supported
//! yet" is a `validate` warning, never a surprise at the first request). Generated, never hand-kept: a new
//! match arm is picked up on the next build.

use std::collections::BTreeSet;
use std::fmt::Write as _;

#[derive(Debug, PartialEq)]
enum Tok {
    Str(String),
    Ident(String),
    Punct(&'static str),
    Other,
}

/// Rust tokens good enough for match patterns: string literals, the punctuation patterns use, the rest.
fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'"' {
            let mut s = String::new();
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() {
                    s.push(b[i] as char);
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push(Tok::Other);
        } else if c == b'=' && b.get(i + 1) == Some(&b'>') {
            out.push(Tok::Punct("=>"));
            i += 2;
        } else if c == b'|' && b.get(i + 1) == Some(&b'|') {
            out.push(Tok::Other);
            i += 2;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_string()));
        } else if let Some(p) = ["(", ")", ",", "|"].iter().find(|p| p.as_bytes()[0] == c) {
            out.push(Tok::Punct(p));
            i += 1;
        } else {
            if !c.is_ascii_whitespace() {
                out.push(Tok::Other);
            }
            i += 1;
        }
    }
    out
}

/// The text of `fn name` up to the next function.
fn function<'s>(src: &'s str, name: &str) -> &'s str {
    let start = src
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("fn {name} not found"));
    let rest = &src[start + 3..];
    let end = ["\nfn ", "\npub fn "]
        .iter()
        .filter_map(|next| rest.find(next))
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

/// `"A" | "B"` alternatives starting at `i`; returns them and the index after.
fn alternatives(t: &[Tok], mut i: usize) -> Option<(Vec<String>, usize)> {
    let mut alts = Vec::new();
    loop {
        let Some(Tok::Str(s)) = t.get(i) else {
            return None;
        };
        alts.push(s.clone());
        i += 1;
        if t.get(i) == Some(&Tok::Punct("|")) {
            i += 1;
        } else {
            return Some((alts, i));
        }
    }
}

/// Every `(TYPE-ALTS, NAME-ALTS)` tuple pattern in a function, expanded. `(TYPE, _) => f(…)` takes the
/// names `f` matches; `(TYPE, op) => { … }` accepts any name (`*`).
fn pairs(file: &str, src: &str, out: &mut BTreeSet<(String, String)>) {
    let t = tokens(src);
    for i in 0..t.len() {
        if t[i] != Tok::Punct("(") {
            continue;
        }
        let Some((types, j)) = alternatives(&t, i + 1) else {
            continue;
        };
        if t.get(j) != Some(&Tok::Punct(",")) {
            continue;
        }
        let (names, mut k) = match (alternatives(&t, j + 1), t.get(j + 1)) {
            (Some(found), _) => found,
            (None, Some(Tok::Ident(_))) => {
                let k = j + 2;
                let names = match (t.get(k), t.get(k + 1), t.get(k + 2), t.get(k + 3)) {
                    (
                        Some(Tok::Punct(")")),
                        Some(Tok::Punct("=>")),
                        Some(Tok::Ident(f)),
                        Some(Tok::Punct("(")),
                    ) if file.contains(&format!("fn {f}(")) => capitalized(function(file, f)),
                    _ => vec!["*".to_string()],
                };
                (names, k)
            }
            _ => continue,
        };
        if t.get(k) == Some(&Tok::Punct(",")) {
            k += 1;
        }
        if t.get(k) != Some(&Tok::Punct(")")) {
            continue;
        }
        for ty in &types {
            for name in &names {
                out.insert((ty.clone(), name.clone()));
            }
        }
    }
}

/// Capitalized identifier-like string literals: the member names a function matches on.
fn capitalized(src: &str) -> Vec<String> {
    tokens(src)
        .into_iter()
        .filter_map(|tok| match tok {
            Tok::Str(s)
                if s.starts_with(|c: char| c.is_ascii_uppercase())
                    && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                Some(s)
            }
            _ => None,
        })
        .collect()
}

fn read(file: &str) -> String {
    println!("cargo::rerun-if-changed=src/{file}");
    std::fs::read_to_string(format!("src/{file}")).unwrap_or_else(|e| panic!("src/{file}: {e}"))
}

fn main() {
    let statics = read("statics.rs");
    let mut static_calls = BTreeSet::new();
    pairs(
        &statics,
        function(&statics, "static_call"),
        &mut static_calls,
    );
    let mut constructors = BTreeSet::new();
    for tok in tokens(function(&statics, "construct")) {
        if let Tok::Str(s) = tok
            && (s.starts_with("System.") || s.starts_with("Newtonsoft."))
        {
            constructors.insert(s);
        }
    }
    // Instance members are dispatched on runtime values, so only the name can be checked statically: a
    // name no runtime module mentions is certainly not implemented.
    let mut members = BTreeSet::new();
    for file in [
        "members.rs",
        "json.rs",
        "context.rs",
        "runtime.rs",
        "value.rs",
        "xml.rs",
    ] {
        members.extend(capitalized(&read(file)));
    }
    let mut code = String::from("// Generated by build.rs from the runtime's match arms.\n");
    let _ = writeln!(code, "pub static STATIC_CALLS: &[(&str, &str)] = &[");
    for (ty, name) in &static_calls {
        let _ = writeln!(code, "    ({ty:?}, {name:?}),");
    }
    let _ = writeln!(code, "];\npub static CONSTRUCTORS: &[&str] = &[");
    for ty in &constructors {
        let _ = writeln!(code, "    {ty:?},");
    }
    let _ = writeln!(code, "];\npub static MEMBER_NAMES: &[&str] = &[");
    for name in &members {
        let _ = writeln!(code, "    {name:?},");
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("implemented.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
