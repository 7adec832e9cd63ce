//! Finding `@(...)` and `@{...}` policy expressions before the XML reader sees the text.
//!
//! Real policy files are usually not well-formed XML: an expression inside an attribute holds raw `"`, `<` and
//! `&&`. APIM accepts that, so we do too. [`prescan`] walks the original text with a small XML-context tracker
//! (text, tag, attribute value, comment, CDATA); where a value starts with `@(` or `@{` it runs [`match_expression`],
//! a C#-aware bracket matcher that skips string literals (regular, verbatim `@"…"`, interpolated `$"…{…}…"`
//! with nested holes), char literals and comments. Each expression's bytes that would confuse XML (`"`, `'`,
//! `<`, `>`, `&`) are then replaced by `_` in a *masked copy of the same length*, so every byte offset the XML
//! reader reports is also an offset into the original file.
//!
//! Entity-escaped expressions (`&quot;`, `&lt;`, `&amp;&amp;`) are decoded while matching, so both spellings
//! yield the same expression text. This module does not parse C#; it only finds where an expression ends.

use apim_source::{Code, Diagnostic, FileId, Span};

/// Deepest bracket / string nesting the matcher follows before giving up with a located error.
pub const MAX_EXPRESSION_DEPTH: usize = 256;

/// An expression found in the original text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedExpr {
    /// Offset of the `@`.
    pub start: u32,
    /// Offset just after the closing `)` or `}`.
    pub end: u32,
    /// The expression text after XML entity decoding, from `@` to the closing bracket.
    pub text: String,
    /// For each byte of `text` (and one past its end), the offset in the original file.
    pub offsets: Vec<u32>,
}

/// The result of [`prescan`].
#[derive(Debug, Clone)]
pub struct Prescan {
    /// The original text with expression bytes that would confuse an XML reader replaced by `_`.
    pub masked: String,
    /// Expressions in attribute values and at the start of text or CDATA content, ordered by offset.
    pub exprs: Vec<ScannedExpr>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Why [`match_expression`] could not find the end of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    /// An opening bracket (or string literal) was never closed.
    Unclosed { open_at: u32, open: char },
    /// A closing bracket that does not match the innermost open one.
    Mismatched {
        open_at: u32,
        open: char,
        found_at: u32,
        found: char,
    },
    /// Brackets or interpolation holes nested deeper than [`MAX_EXPRESSION_DEPTH`].
    TooDeep { at: u32 },
}

impl MatchError {
    /// The error as a diagnostic for the expression starting at `expr_start`.
    pub fn to_diagnostic(&self, file: FileId, expr_start: u32) -> Diagnostic {
        let open_span = Span::new(file, expr_start, expr_start + 2);
        match self {
            MatchError::Unclosed { open_at, open } => {
                let what = match open {
                    '"' => "string literal".to_string(),
                    '\'' => "char literal".to_string(),
                    '*' => "comment".to_string(),
                    other => format!("`{other}`"),
                };
                let at = Span::new(file, *open_at, *open_at + 1);
                let diagnostic = Diagnostic::error(
                    Code::UnbalancedExpression,
                    format!("unbalanced expression: {what} is never closed"),
                    at.clone(),
                    "opened here",
                );
                if at.start() != expr_start + 1 {
                    diagnostic.with_secondary(open_span, "in this expression")
                } else {
                    diagnostic
                }
                .with_help(format!("close it with `{}`", closing_for(*open)))
            }
            MatchError::Mismatched {
                open_at,
                open,
                found_at,
                found,
            } => Diagnostic::error(
                Code::UnbalancedExpression,
                format!("unbalanced expression: `{found}` does not close `{open}`"),
                Span::new(file, *found_at, *found_at + found.len_utf8() as u32),
                format!("expected `{}`", closing_for(*open)),
            )
            .with_secondary(Span::new(file, *open_at, *open_at + 1), "opened here"),
            MatchError::TooDeep { at } => Diagnostic::error(
                Code::NestingTooDeep,
                format!("expression nested deeper than {MAX_EXPRESSION_DEPTH} levels"),
                Span::new(file, *at, *at + 1),
                "too deep",
            )
            .with_secondary(open_span, "in this expression"),
        }
    }
}

fn closing_for(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        '{' => '}',
        '*' => '/',
        other => other,
    }
}

/// A character stream with original offsets; implemented for plain text and for XML text with entities.
pub trait CharStream: Iterator<Item = (u32, char)> + Clone {}
impl<T: Iterator<Item = (u32, char)> + Clone> CharStream for T {}

/// Characters of a plain string, offsets shifted by `base`.
#[derive(Clone)]
pub struct PlainChars<'a> {
    inner: std::str::CharIndices<'a>,
    base: u32,
}

impl<'a> PlainChars<'a> {
    pub fn new(text: &'a str, base: u32) -> PlainChars<'a> {
        PlainChars {
            inner: text.char_indices(),
            base,
        }
    }
}

impl Iterator for PlainChars<'_> {
    type Item = (u32, char);
    fn next(&mut self) -> Option<(u32, char)> {
        self.inner
            .next()
            .map(|(idx, ch)| (self.base + idx as u32, ch))
    }
}

/// Characters of XML text with `&name;` / `&#N;` / `&#xH;` decoded; a bare `&` passes through as itself.
#[derive(Clone)]
pub struct XmlChars<'a> {
    text: &'a str,
    pos: usize,
    end: usize,
}

impl<'a> XmlChars<'a> {
    /// Decodes `text[start..end]`; offsets are offsets into `text`.
    pub fn new(text: &'a str, start: usize, end: usize) -> XmlChars<'a> {
        XmlChars {
            text,
            pos: start,
            end: end.min(text.len()),
        }
    }
}

impl Iterator for XmlChars<'_> {
    type Item = (u32, char);
    fn next(&mut self) -> Option<(u32, char)> {
        if self.pos >= self.end {
            return None;
        }
        let start = self.pos;
        let rest = &self.text[start..self.end];
        let ch = rest.chars().next()?;
        if ch == '&'
            && let Some((decoded, len)) = decode_entity(rest)
        {
            self.pos += len;
            return Some((start as u32, decoded));
        }
        self.pos += ch.len_utf8();
        Some((start as u32, ch))
    }
}

/// Decodes one entity at the start of `text` (which starts with `&`): the character and the entity's length.
pub fn decode_entity(text: &str) -> Option<(char, usize)> {
    let semi = text
        .as_bytes()
        .iter()
        .take(12)
        .position(|byte| *byte == b';')?;
    let name = &text[1..semi];
    let decoded = match name {
        "quot" => '"',
        "apos" => '\'',
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        _ => {
            let number = name.strip_prefix('#')?;
            let value = match number
                .strip_prefix('x')
                .or_else(|| number.strip_prefix('X'))
            {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse::<u32>().ok()?,
            };
            char::from_u32(value)?
        }
    };
    Some((decoded, semi + 1))
}

/// Decodes XML text (entities) into a string plus the original offset of each decoded byte (and of its end).
pub fn decode_with_offsets(
    chars: impl Iterator<Item = (u32, char)>,
    end: u32,
) -> (String, Vec<u32>) {
    let mut text = String::new();
    let mut offsets = Vec::new();
    for (offset, ch) in chars {
        text.push(ch);
        offsets.extend(std::iter::repeat_n(offset, ch.len_utf8()));
    }
    offsets.push(end);
    (text, offsets)
}

enum Frame {
    /// `(`, `[` or `{` in code.
    Bracket { open: char, at: u32 },
    /// An interpolated string `$"…"` (verbatim when `$@"…"`).
    Interpolated { verbatim: bool, at: u32 },
    /// A `{…}` hole inside an interpolated string.
    Hole { at: u32 },
}

/// Finds the end of the expression starting at the stream's first character, which must be `@` followed by
/// `(` or `{`. Returns the offset just after the closing bracket.
pub fn match_expression<S: CharStream>(mut chars: S) -> Result<u32, MatchError> {
    let (at_offset, at) = chars.next().ok_or(MatchError::Unclosed {
        open_at: 0,
        open: '(',
    })?;
    debug_assert_eq!(at, '@');
    let (open_at, open) = chars.next().ok_or(MatchError::Unclosed {
        open_at: at_offset,
        open: '(',
    })?;
    let mut stack = vec![Frame::Bracket { open, at: open_at }];
    loop {
        let Some(top) = stack.last() else {
            unreachable!("the loop returns when the outermost bracket closes")
        };
        if let Frame::Interpolated { verbatim, at } = *top {
            // Inside the text part of an interpolated string.
            let Some((offset, ch)) = chars.next() else {
                return Err(MatchError::Unclosed {
                    open_at: at,
                    open: '"',
                });
            };
            match ch {
                '{' if peek(&chars) == Some('{') => {
                    chars.next();
                }
                '{' => push(&mut stack, Frame::Hole { at: offset })?,
                '}' if peek(&chars) == Some('}') => {
                    chars.next();
                }
                '\\' if !verbatim => {
                    chars.next();
                }
                '"' if verbatim && peek(&chars) == Some('"') => {
                    chars.next();
                }
                '"' => {
                    stack.pop();
                }
                _ => {}
            }
            continue;
        }
        let in_hole = matches!(top, Frame::Hole { .. });
        let Some((offset, ch)) = chars.next() else {
            let (open_at, open) = match stack.last() {
                Some(Frame::Bracket { open, at }) => (*at, *open),
                Some(Frame::Hole { at }) => (*at, '{'),
                Some(Frame::Interpolated { at, .. }) => (*at, '"'),
                None => (open_at, open),
            };
            return Err(MatchError::Unclosed { open_at, open });
        };
        match ch {
            '"' => skip_string(&mut chars, offset, false)?,
            '\'' => skip_char_literal(&mut chars),
            '@' if peek(&chars) == Some('"') => {
                chars.next();
                skip_string(&mut chars, offset, true)?;
            }
            '@' | '$' if matches!(peek(&chars), Some('$' | '@')) && peek2(&chars) == Some('"') => {
                chars.next();
                chars.next();
                push(
                    &mut stack,
                    Frame::Interpolated {
                        verbatim: true,
                        at: offset,
                    },
                )?;
            }
            '$' if peek(&chars) == Some('"') => {
                chars.next();
                push(
                    &mut stack,
                    Frame::Interpolated {
                        verbatim: false,
                        at: offset,
                    },
                )?;
            }
            '/' if peek(&chars) == Some('/') => {
                for (_, next) in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
            }
            '/' if peek(&chars) == Some('*') => {
                chars.next();
                let mut previous = ' ';
                let mut closed = false;
                for (_, next) in chars.by_ref() {
                    if previous == '*' && next == '/' {
                        closed = true;
                        break;
                    }
                    previous = next;
                }
                if !closed {
                    return Err(MatchError::Unclosed {
                        open_at: offset,
                        open: '*',
                    });
                }
            }
            ':' if in_hole => {
                // A format specifier `{value:N2}` runs to the hole's closing brace.
                for (_, next) in chars.by_ref() {
                    if next == '}' {
                        break;
                    }
                }
                stack.pop();
            }
            '(' | '[' | '{' => push(
                &mut stack,
                Frame::Bracket {
                    open: ch,
                    at: offset,
                },
            )?,
            ')' | ']' | '}' => match stack.pop() {
                Some(Frame::Bracket { open, .. }) if closing_for(open) == ch => {
                    if stack.is_empty() {
                        return Ok(offset + 1);
                    }
                }
                Some(Frame::Hole { .. }) if ch == '}' => {}
                Some(Frame::Bracket { open, at }) => {
                    return Err(MatchError::Mismatched {
                        open_at: at,
                        open,
                        found_at: offset,
                        found: ch,
                    });
                }
                Some(Frame::Hole { at }) => {
                    return Err(MatchError::Mismatched {
                        open_at: at,
                        open: '{',
                        found_at: offset,
                        found: ch,
                    });
                }
                Some(Frame::Interpolated { .. }) | None => {
                    unreachable!("code characters are never read inside string text")
                }
            },
            _ => {}
        }
    }
}

fn push(stack: &mut Vec<Frame>, frame: Frame) -> Result<(), MatchError> {
    if stack.len() >= MAX_EXPRESSION_DEPTH {
        let at = match frame {
            Frame::Bracket { at, .. } | Frame::Hole { at } | Frame::Interpolated { at, .. } => at,
        };
        return Err(MatchError::TooDeep { at });
    }
    stack.push(frame);
    Ok(())
}

fn peek<S: CharStream>(chars: &S) -> Option<char> {
    chars.clone().next().map(|(_, ch)| ch)
}

fn peek2<S: CharStream>(chars: &S) -> Option<char> {
    chars.clone().nth(1).map(|(_, ch)| ch)
}

/// Skips a string literal whose opening quote was already read.
fn skip_string<S: CharStream>(
    chars: &mut S,
    open_at: u32,
    verbatim: bool,
) -> Result<(), MatchError> {
    while let Some((_, ch)) = chars.next() {
        match ch {
            '\\' if !verbatim => {
                chars.next();
            }
            '"' if verbatim && peek(chars) == Some('"') => {
                chars.next();
            }
            '"' => return Ok(()),
            _ => {}
        }
    }
    Err(MatchError::Unclosed { open_at, open: '"' })
}

/// Skips a char literal whose opening quote was already read. A lone `'` that does not form a literal within
/// a few characters is left alone rather than swallowing the rest of the expression.
fn skip_char_literal<S: CharStream>(chars: &mut S) {
    let mut probe = chars.clone();
    let mut n_read = 0;
    while let Some((_, ch)) = probe.next() {
        n_read += 1;
        if ch == '\\' {
            probe.next();
            n_read += 1;
        } else if ch == '\'' {
            for _ in 0..n_read {
                chars.next();
            }
            return;
        }
        if n_read > 10 {
            return;
        }
    }
}

/// Finds expressions and produces the masked text (see the module comment).
pub fn prescan(file: FileId, text: &str) -> Prescan {
    let bytes = text.as_bytes();
    let mut masked = bytes.to_vec();
    let mut exprs = Vec::new();
    let mut diagnostics = Vec::new();
    let mut pos = 0usize;
    // Only whitespace seen since the last markup: an expression may start here.
    let mut fresh = true;
    while pos < bytes.len() {
        let byte = bytes[pos];
        if byte == b'<' {
            fresh = true;
            let rest = &text[pos..];
            if rest.starts_with("<!--") {
                pos = find_from(text, pos + 4, "-->").map_or(bytes.len(), |idx| idx + 3);
            } else if rest.starts_with("<![CDATA[") {
                let content_start = pos + 9;
                let content_end = find_from(text, content_start, "]]>").unwrap_or(bytes.len());
                let content = &text[content_start..content_end];
                let trimmed = content.trim_start();
                let expr_start = content_start + (content.len() - trimmed.len());
                if trimmed.starts_with("@(") || trimmed.starts_with("@{") {
                    let chars = PlainChars::new(&text[expr_start..content_end], expr_start as u32);
                    match match_expression(chars.clone()) {
                        Ok(end) => exprs.push(scanned(chars, expr_start as u32, end)),
                        Err(error) => {
                            diagnostics.push(error.to_diagnostic(file, expr_start as u32))
                        }
                    }
                }
                pos = (content_end + 3).min(bytes.len());
            } else if rest.starts_with("<?") {
                pos = find_from(text, pos + 2, "?>").map_or(bytes.len(), |idx| idx + 2);
            } else if rest.starts_with("<!") || rest.starts_with("</") {
                pos = find_from(text, pos + 2, ">").map_or(bytes.len(), |idx| idx + 1);
            } else {
                pos = scan_tag(
                    file,
                    text,
                    pos + 1,
                    &mut masked,
                    &mut exprs,
                    &mut diagnostics,
                );
            }
            continue;
        }
        if fresh && !byte.is_ascii_whitespace() {
            fresh = false;
            if let Some(end) =
                try_expression(file, text, pos, bytes.len(), &mut exprs, &mut diagnostics)
            {
                mask(&mut masked, pos, end);
                pos = end;
                continue;
            }
        }
        pos += 1;
    }
    let masked = String::from_utf8(masked).expect("masking replaces ASCII bytes with ASCII bytes");
    Prescan {
        masked,
        exprs,
        diagnostics,
    }
}

/// If an expression starts at `pos`, matches it (decoding entities up to `limit`) and records it.
/// Returns the end offset on success; on an unbalanced expression reports it and returns `None`.
fn try_expression(
    file: FileId,
    text: &str,
    pos: usize,
    limit: usize,
    exprs: &mut Vec<ScannedExpr>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<usize> {
    let rest = &text.as_bytes()[pos..];
    if !(rest.starts_with(b"@(") || rest.starts_with(b"@{")) {
        return None;
    }
    let chars = XmlChars::new(text, pos, limit);
    match match_expression(chars.clone()) {
        Ok(end) => {
            exprs.push(scanned(chars, pos as u32, end));
            Some(end as usize)
        }
        Err(error) => {
            diagnostics.push(error.to_diagnostic(file, pos as u32));
            None
        }
    }
}

fn scanned<S: CharStream>(chars: S, start: u32, end: u32) -> ScannedExpr {
    let (text, offsets) = decode_with_offsets(chars.take_while(|(offset, _)| *offset < end), end);
    ScannedExpr {
        start,
        end,
        text,
        offsets,
    }
}

/// Scans a start tag from just after `<`; returns the offset after its `>` (or the end of text).
fn scan_tag(
    file: FileId,
    text: &str,
    mut pos: usize,
    masked: &mut [u8],
    exprs: &mut Vec<ScannedExpr>,
    diagnostics: &mut Vec<Diagnostic>,
) -> usize {
    let bytes = text.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b'>' => return pos + 1,
            b'<' => return pos, // a broken tag; let the XML reader report it
            b'"' | b'\'' => {
                let quote = bytes[pos];
                let value_start = pos + 1;
                let mut expr_pos = value_start;
                while expr_pos < bytes.len() && bytes[expr_pos].is_ascii_whitespace() {
                    expr_pos += 1;
                }
                let closing = find_byte(bytes, value_start, quote);
                // A raw expression may hold the quote character, so it may run past the first closing quote.
                let n_before = diagnostics.len();
                let found = try_expression(file, text, expr_pos, bytes.len(), exprs, diagnostics);
                if found.is_none()
                    && diagnostics.len() > n_before
                    && let Some(closing) = closing
                {
                    // Unbalanced: the message is clearer when read inside the quotes, where a bracket left open
                    // is the likely mistake, than "string never closed" at the attribute's own closing quote.
                    if let Err(
                        error @ MatchError::Unclosed {
                            open: '(' | '[' | '{',
                            ..
                        },
                    ) = match_expression(XmlChars::new(text, expr_pos, closing))
                    {
                        diagnostics.truncate(n_before);
                        diagnostics.push(error.to_diagnostic(file, expr_pos as u32));
                    }
                }
                if let Some(end) = found {
                    let mut after = end;
                    while after < bytes.len() && bytes[after].is_ascii_whitespace() {
                        after += 1;
                    }
                    if after < bytes.len() && bytes[after] == quote {
                        mask(masked, expr_pos, end);
                        pos = after + 1;
                        continue;
                    }
                    // Text follows the expression inside the value: mask the expression and let the value
                    // run to the next quote; the policy reader reports the trailing text.
                    mask(masked, expr_pos, end);
                    pos = find_byte(bytes, end, quote).map_or(bytes.len(), |idx| idx + 1);
                    continue;
                }
                pos = closing.map_or(bytes.len(), |idx| idx + 1);
            }
            _ => pos += 1,
        }
    }
    pos
}

fn mask(masked: &mut [u8], start: usize, end: usize) {
    for byte in &mut masked[start..end] {
        if matches!(*byte, b'"' | b'\'' | b'<' | b'>' | b'&') {
            *byte = b'_';
        }
    }
}

fn find_from(text: &str, from: usize, needle: &str) -> Option<usize> {
    text.get(from..)?.find(needle).map(|idx| idx + from)
}

fn find_byte(bytes: &[u8], from: usize, needle: u8) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|byte| *byte == needle)
        .map(|idx| idx + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(src: &str) -> Result<u32, MatchError> {
        match_expression(PlainChars::new(src, 0))
    }

    #[track_caller]
    fn check_whole(src: &str) {
        assert_eq!(end_of(src), Ok(src.len() as u32), "{src}");
    }

    #[test]
    fn matcher_skips_literals_and_comments() {
        check_whole(r#"@(context.Request.Headers.GetValueOrDefault("x)", "") == "a" && x < 3)"#);
        check_whole(r#"@(@"C:\path"")""" + "\"(")"#);
        check_whole(r#"@($"{a} and {(b ? "}" : "{")} {c:N2} {{x}} ")"#);
        check_whole(r#"@($@"{a}"" {{ ")"#);
        check_whole("@{ var c = ')'; var d = '\\''; /* ) */ // )\n return c; }");
        check_whole(r#"@{ var s = $"{string.Join(",", new[] { "a", "}" })}"; return s; }"#);
        assert_eq!(end_of("@(a) trailing"), Ok(4));
    }

    #[test]
    fn matcher_reports_unbalanced() {
        assert!(matches!(
            end_of("@(a(b)"),
            Err(MatchError::Unclosed {
                open_at: 1,
                open: '('
            })
        ));
        assert!(matches!(
            end_of("@(a]"),
            Err(MatchError::Mismatched { found: ']', .. })
        ));
        assert!(matches!(
            end_of(r#"@("abc)"#),
            Err(MatchError::Unclosed { open: '"', .. })
        ));
        let deep = format!("@{}{}", "(".repeat(5000), ")".repeat(5000));
        assert!(matches!(end_of(&deep), Err(MatchError::TooDeep { .. })));
    }

    #[test]
    fn prescan_masks_raw_and_decodes_escaped_expressions() {
        let raw = r#"<when condition="@(x == "a" && y < 3)"><set-body>@{ return "<b>"; }</set-body></when>"#;
        let scan = prescan(FileId(0), raw);
        assert!(scan.diagnostics.is_empty());
        assert_eq!(scan.masked.len(), raw.len());
        assert_eq!(scan.exprs.len(), 2);
        assert_eq!(scan.exprs[0].text, r#"@(x == "a" && y < 3)"#);
        assert_eq!(scan.exprs[1].text, r#"@{ return "<b>"; }"#);
        assert!(!scan.masked[17..37].contains(['"', '<', '&']));
        assert_eq!(
            &scan.masked[37..38],
            "\"",
            "the attribute's own quote stays"
        );

        let escaped = r#"<when condition="@(x == &quot;)&quot; &amp;&amp; y &lt; 3)"/>"#;
        let scan = prescan(FileId(0), escaped);
        assert_eq!(scan.exprs[0].text, r#"@(x == ")" && y < 3)"#);
        // Offsets point into the original text: the decoded `"` comes from `&quot;` at byte 24.
        assert_eq!(scan.exprs[0].offsets[7], 24);
        assert_eq!(*scan.exprs[0].offsets.last().expect("end offset"), 58);
    }
}
