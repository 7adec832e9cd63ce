//! The C# lexer: tokens with byte ranges into the expression text.
//!
//! Covers what policy expressions use: identifiers (also `@verbatim` ones), keywords, integer and real literals
//! with suffixes, char literals, regular / verbatim / interpolated strings (holes are lexed again by the parser),
//! comments and all C# punctuators.

use crate::{ExprError, Range};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int {
        value: u64,
        suffix: IntSuffix,
    },
    Real {
        value: f64,
        suffix: RealSuffix,
    },
    Char(char),
    Str(String),
    /// `$"…"`: literal pieces and holes (byte ranges of the hole code, alignment, format).
    Interp(Vec<InterpPiece>),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSuffix {
    None,
    L,
    U,
    UL,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RealSuffix {
    None,
    D,
    F,
    M,
}

#[derive(Debug, Clone, PartialEq)]
pub enum InterpPiece {
    Text(String),
    Hole {
        code: Range,
        alignment: Option<Range>,
        format: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub range: Range,
}

/// Punctuators, longest first so that the first match wins.
const PUNCTS: &[&str] = &[
    ">>=", "<<=", "??=", "?.", "?[", "=>", "==", "!=", "<=", ">=", "&&", "||", "++", "--", "+=",
    "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<", "??", "::", "{", "}", "(", ")", "[", "]", ".",
    ",", ";", ":", "?", "+", "-", "*", "/", "%", "&", "|", "^", "!", "~", "=", "<", ">",
];

pub struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    /// Added to every range: the position of `src` inside the whole expression text.
    base: usize,
}

impl<'s> Lexer<'s> {
    pub fn new(src: &'s str, base: usize) -> Self {
        Lexer { src, pos: 0, base }
    }

    fn err(&self, start: usize, end: usize, message: impl Into<String>) -> ExprError {
        ExprError::syntax(
            self.base + start..self.base + end.max(start + 1).min(self.src.len().max(start + 1)),
            message,
        )
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub fn tokenize(mut self) -> Result<Vec<Token>, ExprError> {
        let mut out = Vec::new();
        loop {
            self.skip_trivia()?;
            let start = self.pos;
            let Some(c) = self.peek() else {
                out.push(Token {
                    tok: Tok::Eof,
                    range: self.base + start..self.base + start,
                });
                return Ok(out);
            };
            let tok = self.token(c, start)?;
            out.push(Token {
                tok,
                range: self.base + start..self.base + self.pos,
            });
        }
    }

    fn skip_trivia(&mut self) -> Result<(), ExprError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos;
                    match self.src[self.pos + 2..].find("*/") {
                        Some(i) => self.pos += 2 + i + 2,
                        None => {
                            return Err(self.err(
                                start,
                                start + 2,
                                "comment is not closed: add `*/`",
                            ));
                        }
                    }
                }
                Some('#') => {
                    // Preprocessor lines (`#region`) are allowed by C#; skip them.
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self, c: char, start: usize) -> Result<Tok, ExprError> {
        if c == '@' {
            match self.peek_at(1) {
                Some('"') => {
                    self.pos += 2;
                    return self.verbatim_string(start).map(Tok::Str);
                }
                Some('$') if self.peek_at(2) == Some('"') => {
                    self.pos += 3;
                    return self.interpolated(start, true);
                }
                Some(c) if is_ident_start(c) => {
                    self.bump();
                    return Ok(Tok::Ident(self.ident()));
                }
                _ => return Err(self.err(start, start + 1, "unexpected `@`")),
            }
        }
        if c == '$' {
            match (self.peek_at(1), self.peek_at(2)) {
                (Some('"'), _) => {
                    self.pos += 2;
                    return self.interpolated(start, false);
                }
                (Some('@'), Some('"')) => {
                    self.pos += 3;
                    return self.interpolated(start, true);
                }
                _ => return Err(self.err(start, start + 1, "unexpected `$`")),
            }
        }
        if c == '"' {
            self.bump();
            return self.regular_string(start).map(Tok::Str);
        }
        if c == '\'' {
            self.bump();
            return self.char_literal(start);
        }
        if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            return self.number(start);
        }
        if is_ident_start(c) {
            return Ok(Tok::Ident(self.ident()));
        }
        let rest = &self.src[self.pos..];
        for p in PUNCTS {
            if rest.starts_with(p) {
                self.pos += p.len();
                return Ok(Tok::Punct(p));
            }
        }
        Err(self.err(
            start,
            start + c.len_utf8(),
            format!("unexpected character `{c}`"),
        ))
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_ident_part(c) {
                self.bump();
            } else {
                break;
            }
        }
        self.src[start..self.pos].to_string()
    }

    fn number(&mut self, start: usize) -> Result<Tok, ExprError> {
        let rest = &self.src[self.pos..];
        if rest.starts_with("0x")
            || rest.starts_with("0X")
            || rest.starts_with("0b")
            || rest.starts_with("0B")
        {
            let radix = if rest.as_bytes()[1].eq_ignore_ascii_case(&b'x') {
                16
            } else {
                2
            };
            self.pos += 2;
            let digits_start = self.pos;
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_hexdigit() || c == '_')
            {
                self.bump();
            }
            let digits: String = self.src[digits_start..self.pos]
                .chars()
                .filter(|c| *c != '_')
                .collect();
            let value = u64::from_str_radix(&digits, radix)
                .map_err(|_| self.err(start, self.pos, "integral constant is too large"))?;
            let suffix = self.int_suffix();
            return Ok(Tok::Int { value, suffix });
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
            self.bump();
        }
        let mut is_real = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            is_real = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '_') {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.bump();
            if matches!(self.peek(), Some('+' | '-')) {
                self.bump();
            }
            if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                is_real = true;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            } else {
                self.pos = save;
            }
        }
        let text: String = self.src[start..self.pos]
            .chars()
            .filter(|c| *c != '_')
            .collect();
        let real_suffix = match self.peek() {
            Some('d' | 'D') => Some(RealSuffix::D),
            Some('f' | 'F') => Some(RealSuffix::F),
            Some('m' | 'M') => Some(RealSuffix::M),
            _ => None,
        };
        if is_real || real_suffix.is_some() {
            if real_suffix.is_some() {
                self.bump();
            }
            let value: f64 = text
                .parse()
                .map_err(|_| self.err(start, self.pos, "invalid real literal"))?;
            return Ok(Tok::Real {
                value,
                suffix: real_suffix.unwrap_or(RealSuffix::None),
            });
        }
        let value: u64 = text
            .parse()
            .map_err(|_| self.err(start, self.pos, "integral constant is too large"))?;
        let suffix = self.int_suffix();
        Ok(Tok::Int { value, suffix })
    }

    fn int_suffix(&mut self) -> IntSuffix {
        match (self.peek(), self.peek_at(1)) {
            (Some('u' | 'U'), Some('l' | 'L')) | (Some('l' | 'L'), Some('u' | 'U')) => {
                self.pos += 2;
                IntSuffix::UL
            }
            (Some('l' | 'L'), _) => {
                self.bump();
                IntSuffix::L
            }
            (Some('u' | 'U'), _) => {
                self.bump();
                IntSuffix::U
            }
            _ => IntSuffix::None,
        }
    }

    fn escape(&mut self, start: usize) -> Result<char, ExprError> {
        let at = self.pos - 1;
        let Some(c) = self.bump() else {
            return Err(self.err(start, self.pos, "string is not closed"));
        };
        Ok(match c {
            '\'' => '\'',
            '"' => '"',
            '\\' => '\\',
            '0' => '\0',
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            'u' | 'x' | 'U' => {
                let max = if c == 'U' { 8 } else { 4 };
                let digits_start = self.pos;
                while self.pos - digits_start < max
                    && self.peek().is_some_and(|d| d.is_ascii_hexdigit())
                {
                    self.bump();
                }
                let digits = &self.src[digits_start..self.pos];
                if digits.is_empty() || (c != 'x' && digits.len() != max) {
                    return Err(self.err(at, self.pos, "unrecognized escape sequence"));
                }
                u32::from_str_radix(digits, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| self.err(at, self.pos, "unrecognized escape sequence"))?
            }
            _ => {
                return Err(self.err(
                    at,
                    self.pos,
                    format!("unrecognized escape sequence `\\{c}`"),
                ));
            }
        })
    }

    fn regular_string(&mut self, start: usize) -> Result<String, ExprError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => {
                    return Err(self.err(
                        start,
                        start + 1,
                        "string literal is not closed: add `\"`",
                    ));
                }
                Some('"') => return Ok(s),
                Some('\\') => s.push(self.escape(start)?),
                Some(c) => s.push(c),
            }
        }
    }

    fn verbatim_string(&mut self, start: usize) -> Result<String, ExprError> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.err(
                        start,
                        start + 2,
                        "verbatim string is not closed: add `\"`",
                    ));
                }
                Some('"') if self.peek() == Some('"') => {
                    self.bump();
                    s.push('"');
                }
                Some('"') => return Ok(s),
                Some(c) => s.push(c),
            }
        }
    }

    fn char_literal(&mut self, start: usize) -> Result<Tok, ExprError> {
        let c = match self.bump() {
            Some('\\') => self.escape(start)?,
            Some('\'') | Some('\n') | None => {
                return Err(self.err(start, self.pos, "empty character literal"));
            }
            Some(c) => c,
        };
        if self.bump() != Some('\'') {
            return Err(self.err(
                start,
                self.pos,
                "character literal is not closed or has more than one character",
            ));
        }
        Ok(Tok::Char(c))
    }

    /// `$"…"` or `$@"…"`; the opening quote is consumed.
    fn interpolated(&mut self, start: usize, verbatim: bool) -> Result<Tok, ExprError> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(self.err(
                    start,
                    start + 2,
                    "interpolated string is not closed: add `\"`",
                ));
            };
            match c {
                '"' if verbatim && self.peek() == Some('"') => {
                    self.bump();
                    text.push('"');
                }
                '"' => break,
                '\n' if !verbatim => {
                    return Err(self.err(
                        start,
                        start + 2,
                        "interpolated string is not closed: add `\"`",
                    ));
                }
                '\\' if !verbatim => text.push(self.escape(start)?),
                '{' if self.peek() == Some('{') => {
                    self.bump();
                    text.push('{');
                }
                '}' if self.peek() == Some('}') => {
                    self.bump();
                    text.push('}');
                }
                '}' => {
                    return Err(self.err(
                        self.pos - 1,
                        self.pos,
                        "`}` in an interpolated string must be doubled: `}}`",
                    ));
                }
                '{' => {
                    if !text.is_empty() {
                        pieces.push(InterpPiece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(self.hole()?);
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            pieces.push(InterpPiece::Text(text));
        }
        Ok(Tok::Interp(pieces))
    }

    /// One `{code[,alignment][:format]}` hole; the `{` is consumed.
    fn hole(&mut self) -> Result<InterpPiece, ExprError> {
        let open = self.pos - 1;
        let code_start = self.pos;
        let mut depth = 0usize;
        let mut alignment = None;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err(open, open + 1, "interpolation hole is not closed: add `}`"));
            };
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    self.bump();
                }
                ')' | ']' => {
                    depth = depth.saturating_sub(1);
                    self.bump();
                }
                '}' if depth > 0 => {
                    depth -= 1;
                    self.bump();
                }
                '}' => {
                    let end = self.pos;
                    self.bump();
                    let (code, align) = match alignment {
                        Some(a) => (code_start..a, Some(a + 1..end)),
                        None => (code_start..end, None),
                    };
                    return Ok(InterpPiece::Hole {
                        code: self.base + code.start..self.base + code.end,
                        alignment: align.map(|a| self.base + a.start..self.base + a.end),
                        format: None,
                    });
                }
                ',' if depth == 0 && alignment.is_none() => {
                    alignment = Some(self.pos);
                    self.bump();
                }
                ':' if depth == 0 => {
                    // The format specifier runs to the closing `}`.
                    let colon = self.pos;
                    self.bump();
                    let fmt_start = self.pos;
                    while self.peek().is_some_and(|c| c != '}') {
                        self.bump();
                    }
                    if self.peek().is_none() {
                        return Err(self.err(
                            open,
                            open + 1,
                            "interpolation hole is not closed: add `}`",
                        ));
                    }
                    let format = self.src[fmt_start..self.pos].to_string();
                    self.bump();
                    let (code, align) = match alignment {
                        Some(a) => (code_start..a, Some(a + 1..colon)),
                        None => (code_start..colon, None),
                    };
                    return Ok(InterpPiece::Hole {
                        code: self.base + code.start..self.base + code.end,
                        alignment: align.map(|a| self.base + a.start..self.base + a.end),
                        format: Some(format),
                    });
                }
                '"' => {
                    let s = self.pos;
                    self.bump();
                    self.regular_string(s)?;
                }
                '\'' => {
                    let s = self.pos;
                    self.bump();
                    self.char_literal(s)?;
                }
                '@' if self.peek_at(1) == Some('"') => {
                    let s = self.pos;
                    self.pos += 2;
                    self.verbatim_string(s)?;
                }
                '$' if matches!(self.peek_at(1), Some('"' | '@')) => {
                    let s = self.pos;
                    let verbatim = self.peek_at(1) == Some('@');
                    self.pos += if verbatim { 3 } else { 2 };
                    self.interpolated(s, verbatim)?;
                }
                '?' if depth == 0 => {
                    // `a ? b : c` inside a hole must be parenthesised in C#; a bare `?` is `?.`, `??` or `?[`.
                    self.bump();
                }
                _ => {
                    self.bump();
                }
            }
        }
    }
}

pub fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

pub fn is_ident_part(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// C# keywords that cannot be identifiers (contextual keywords such as `var` are not here).
pub fn is_reserved(word: &str) -> bool {
    matches!(
        word,
        "abstract"
            | "as"
            | "base"
            | "bool"
            | "break"
            | "byte"
            | "case"
            | "catch"
            | "char"
            | "checked"
            | "class"
            | "const"
            | "continue"
            | "decimal"
            | "default"
            | "delegate"
            | "do"
            | "double"
            | "else"
            | "enum"
            | "event"
            | "explicit"
            | "extern"
            | "false"
            | "finally"
            | "fixed"
            | "float"
            | "for"
            | "foreach"
            | "goto"
            | "if"
            | "implicit"
            | "in"
            | "int"
            | "interface"
            | "internal"
            | "is"
            | "lock"
            | "long"
            | "namespace"
            | "new"
            | "null"
            | "object"
            | "operator"
            | "out"
            | "override"
            | "params"
            | "private"
            | "protected"
            | "public"
            | "readonly"
            | "ref"
            | "return"
            | "sbyte"
            | "sealed"
            | "short"
            | "sizeof"
            | "stackalloc"
            | "static"
            | "string"
            | "struct"
            | "switch"
            | "this"
            | "throw"
            | "true"
            | "try"
            | "typeof"
            | "uint"
            | "ulong"
            | "unchecked"
            | "unsafe"
            | "ushort"
            | "using"
            | "virtual"
            | "void"
            | "volatile"
            | "while"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        Lexer::new(s, 0)
            .tokenize()
            .expect("lexes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    #[test]
    fn literals() {
        assert_eq!(
            toks("42L")[0],
            Tok::Int {
                value: 42,
                suffix: IntSuffix::L
            }
        );
        assert_eq!(
            toks("1.5")[0],
            Tok::Real {
                value: 1.5,
                suffix: RealSuffix::None
            }
        );
        assert_eq!(
            toks("2d")[0],
            Tok::Real {
                value: 2.0,
                suffix: RealSuffix::D
            }
        );
        assert_eq!(
            toks("0xFF")[0],
            Tok::Int {
                value: 255,
                suffix: IntSuffix::None
            }
        );
        assert_eq!(toks(r#"@"a""b\""#)[0], Tok::Str("a\"b\\".into()));
        assert_eq!(toks(r#""a\tb""#)[0], Tok::Str("a\tb".into()));
        assert_eq!(toks(r"'\''")[0], Tok::Char('\''));
    }

    #[test]
    fn interpolation_holes() {
        let t = toks(r#"$"a{x,5:N2}b{{c}}{f("}")}""#);
        let Tok::Interp(p) = &t[0] else {
            panic!("not interpolated")
        };
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[1],
            InterpPiece::Hole {
                code: 4..5,
                alignment: Some(6..7),
                format: Some("N2".into())
            }
        );
        assert_eq!(p[2], InterpPiece::Text("b{c}".into()));
        assert_eq!(
            p[3],
            InterpPiece::Hole {
                code: 18..24,
                alignment: None,
                format: None
            }
        );
    }

    #[test]
    fn unclosed_things_are_errors() {
        assert!(Lexer::new("\"abc", 0).tokenize().is_err());
        assert!(Lexer::new("/* x", 0).tokenize().is_err());
        assert!(Lexer::new("$\"{x\"", 0).tokenize().is_err());
    }
}
