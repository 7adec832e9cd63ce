//! The template expression language: `[concat(parameters('a'), '/x')]` → [`Expr`].
//!
//! Azure: "Template syntax and expressions" — a JSON string that starts with `[` and ends with `]` is an
//! expression; `[[` at the start escapes a literal `[`. Expressions are function calls with string literals
//! (`'it''s'`), integers, property access (`.name`) and indexers (`[0]`, `['key']`). `true`, `false` and
//! `null` are functions (`true()`).

use std::fmt;

/// Deeper nesting than this is refused (the evaluator recurses over the tree).
pub const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Str(String),
    Int(i64),
    /// `name(args)`; a user-defined function keeps its namespace: `ns.name`.
    Call {
        name: String,
        args: Vec<Expr>,
    },
    /// `target.name`
    Member(Box<Expr>, String),
    /// `target[index]`
    Index(Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} (at character {at} of the expression)")]
pub struct SyntaxError {
    pub message: String,
    /// Character offset in the expression text (after the opening `[`).
    pub at: usize,
}

/// What a JSON string holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Template<'s> {
    Literal(std::borrow::Cow<'s, str>),
    Expression(&'s str),
}

/// Classifies a JSON string: a literal (with a leading `[[` unescaped) or an expression (the text inside the
/// outer brackets).
pub fn classify(s: &str) -> Template<'_> {
    if s.starts_with("[[") {
        Template::Literal(std::borrow::Cow::Owned(s[1..].to_string()))
    } else if s.len() >= 2 && s.starts_with('[') && s.ends_with(']') {
        Template::Expression(&s[1..s.len() - 1])
    } else {
        Template::Literal(std::borrow::Cow::Borrowed(s))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Punct(char),
    End,
}

struct Lexer<'s> {
    chars: Vec<(usize, char)>,
    i: usize,
    _src: &'s str,
}

impl<'s> Lexer<'s> {
    fn tokens(src: &'s str) -> Result<Vec<(usize, Tok)>, SyntaxError> {
        let mut lx = Lexer {
            chars: src.chars().enumerate().collect(),
            i: 0,
            _src: src,
        };
        let mut out = Vec::new();
        loop {
            while lx.peek().is_some_and(char::is_whitespace) {
                lx.i += 1;
            }
            let at = lx.i;
            let Some(c) = lx.peek() else {
                out.push((at, Tok::End));
                return Ok(out);
            };
            let tok = if c == '\'' {
                lx.i += 1;
                let mut s = String::new();
                loop {
                    match lx.peek() {
                        None => {
                            return Err(SyntaxError {
                                message: "unterminated string literal (a `'` inside a string is written `''`)"
                                    .into(),
                                at,
                            });
                        }
                        Some('\'') if lx.peek_at(1) == Some('\'') => {
                            s.push('\'');
                            lx.i += 2;
                        }
                        Some('\'') => {
                            lx.i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(c);
                            lx.i += 1;
                        }
                    }
                }
                Tok::Str(s)
            } else if c.is_ascii_digit()
                || c == '-' && lx.peek_at(1).is_some_and(|d| d.is_ascii_digit())
            {
                let start = lx.i;
                lx.i += 1;
                while lx.peek().is_some_and(|d| d.is_ascii_digit()) {
                    lx.i += 1;
                }
                let text: String = lx.chars[start..lx.i].iter().map(|(_, c)| c).collect();
                Tok::Int(text.parse().map_err(|_| SyntaxError {
                    message: format!("integer `{text}` is out of range"),
                    at,
                })?)
            } else if c.is_alphabetic() || c == '_' || c == '$' {
                let start = lx.i;
                while lx
                    .peek()
                    .is_some_and(|d| d.is_alphanumeric() || d == '_' || d == '$')
                {
                    lx.i += 1;
                }
                Tok::Ident(lx.chars[start..lx.i].iter().map(|(_, c)| c).collect())
            } else if "(),.[]".contains(c) {
                lx.i += 1;
                Tok::Punct(c)
            } else {
                return Err(SyntaxError {
                    message: format!("unexpected character `{c}`"),
                    at,
                });
            };
            out.push((at, tok));
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).map(|(_, c)| *c)
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.i + n).map(|(_, c)| *c)
    }
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    depth: usize,
}

/// Parses the text of an expression (without the outer brackets).
pub fn parse(src: &str) -> Result<Expr, SyntaxError> {
    let toks = Lexer::tokens(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
    };
    let e = p.expr()?;
    match p.tok() {
        Tok::End => Ok(e),
        t => Err(p.error(format!("unexpected {} after the expression", describe(&t)))),
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Int(i) => format!("number {i}"),
        Tok::Punct(c) => format!("`{c}`"),
        Tok::End => "end of expression".into(),
    }
}

impl Parser {
    fn tok(&self) -> Tok {
        self.toks
            .get(self.i)
            .map(|(_, t)| t.clone())
            .unwrap_or(Tok::End)
    }

    fn at(&self) -> usize {
        self.toks.get(self.i).map(|(a, _)| *a).unwrap_or(0)
    }

    fn error(&self, message: String) -> SyntaxError {
        SyntaxError {
            message,
            at: self.at(),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.tok() == Tok::Punct(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SyntaxError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(format!("expected `{c}`, found {}", describe(&self.tok()))))
        }
    }

    fn expr(&mut self) -> Result<Expr, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!(
                "the expression is nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut e = match self.tok() {
            Tok::Str(s) => {
                self.i += 1;
                Expr::Str(s)
            }
            Tok::Int(i) => {
                self.i += 1;
                Expr::Int(i)
            }
            Tok::Ident(first) => {
                self.i += 1;
                let mut name = first;
                // A user-defined function: `namespace.name(`.
                if self.tok() == Tok::Punct('.')
                    && matches!(self.toks.get(self.i + 1), Some((_, Tok::Ident(_))))
                    && matches!(self.toks.get(self.i + 2), Some((_, Tok::Punct('('))))
                {
                    if let Some((_, Tok::Ident(member))) = self.toks.get(self.i + 1) {
                        name = format!("{name}.{member}");
                    }
                    self.i += 2;
                }
                if !self.eat('(') {
                    return Err(self.error(format!(
                        "expected `(` after `{name}`: functions are called as `{name}(…)`, and strings are quoted with `'`"
                    )));
                }
                let mut args = Vec::new();
                if !self.eat(')') {
                    loop {
                        args.push(self.expr()?);
                        if self.eat(')') {
                            break;
                        }
                        self.expect(',')?;
                    }
                }
                Expr::Call { name, args }
            }
            t => return Err(self.error(format!("expected a value, found {}", describe(&t)))),
        };
        loop {
            if self.eat('.') {
                match self.tok() {
                    Tok::Ident(n) => {
                        self.i += 1;
                        e = Expr::Member(Box::new(e), n);
                    }
                    t => {
                        return Err(self.error(format!(
                            "expected a property name after `.`, found {}",
                            describe(&t)
                        )));
                    }
                }
            } else if self.eat('[') {
                let index = self.expr()?;
                self.expect(']')?;
                e = Expr::Index(Box::new(e), Box::new(index));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(e)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
            Expr::Member(t, n) => write!(f, "{t}.{n}"),
            Expr::Index(t, i) => write!(f, "{t}[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_calls_members_and_indexers() {
        let e = parse("concat(parameters('a')['b'].c, 'it''s', -1, ns.fn(1))").expect("parses");
        assert_eq!(
            e.to_string(),
            "concat(parameters('a')['b'].c, 'it''s', -1, ns.fn(1))"
        );
        assert_eq!(classify("[[x]"), Template::Literal("[x]".into()));
        assert_eq!(classify("[x()]"), Template::Expression("x()"));
        assert_eq!(classify("plain"), Template::Literal("plain".into()));
    }

    #[test]
    fn syntax_errors_say_where() {
        for bad in [
            "concat('a'",
            "'open",
            "x",
            "a(",
            "a() b()",
            "a(,)",
            "a().",
            "a()[1",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}1{}", "f(".repeat(1000), ")".repeat(1000));
        assert!(parse(&deep).is_err());
    }
}
