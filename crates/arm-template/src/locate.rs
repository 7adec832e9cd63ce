//! From a JSON path (`$.resources[3].properties['url']`, as errors name places) back to a byte offset in the
//! JSON text, so that problems can be shown at `file:line:col`.

/// The byte offset of the value at `path` in `text`, or of the deepest enclosing value found.
pub fn locate(text: &str, path: &str) -> Option<usize> {
    let steps = parse_path(path)?;
    let b = text.as_bytes();
    let mut at = skip_ws(b, 0);
    for step in steps {
        match (step, b.get(at)) {
            (Step::Key(k), Some(b'{')) => match find_member(b, at, &k) {
                Some(v) => at = v,
                None => return Some(at),
            },
            (Step::Index(i), Some(b'[')) => match find_item(b, at, i) {
                Some(v) => at = v,
                None => return Some(at),
            },
            _ => return Some(at),
        }
    }
    Some(at)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

enum Step {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let rest = path.strip_prefix('$')?;
    let cs: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        match cs[i] {
            '.' => {
                let start = i + 1;
                i = start;
                while i < cs.len() && !matches!(cs[i], '.' | '[' | '<') {
                    i += 1;
                }
                steps.push(Step::Key(cs[start..i].iter().collect()));
            }
            '[' if cs.get(i + 1) == Some(&'\'') => {
                let mut k = String::new();
                i += 2;
                while i < cs.len() && !(cs[i] == '\'' && cs.get(i + 1) == Some(&']')) {
                    if cs[i] == '\\' && i + 1 < cs.len() {
                        i += 1;
                    }
                    k.push(cs[i]);
                    i += 1;
                }
                i += 2;
                steps.push(Step::Key(k));
            }
            '[' => {
                let start = i + 1;
                while i < cs.len() && cs[i] != ']' {
                    i += 1;
                }
                steps.push(Step::Index(
                    cs[start..i].iter().collect::<String>().parse().ok()?,
                ));
                i += 1;
            }
            // `<copy 2>` marks a loop instance: the definition is the same place.
            '<' => {
                while i < cs.len() && cs[i] != '>' {
                    i += 1;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    Some(steps)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The end of the JSON string starting at `i` (the opening quote), and its raw content.
fn string_end(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of the value starting at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{') | Some(b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            j
        }
    }
}

fn find_member(b: &[u8], open: usize, key: &str) -> Option<usize> {
    let mut i = skip_ws(b, open + 1);
    while i < b.len() && b[i] == b'"' {
        let end = string_end(b, i);
        let name: String = serde_json::from_slice(&b[i..end]).ok()?;
        i = skip_ws(b, end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if name == key {
            return Some(i);
        }
        i = skip_ws(b, value_end(b, i));
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        } else {
            return None;
        }
    }
    None
}

fn find_item(b: &[u8], open: usize, index: usize) -> Option<usize> {
    let mut i = skip_ws(b, open + 1);
    for _ in 0..index {
        i = skip_ws(b, value_end(b, i));
        if b.get(i) != Some(&b',') {
            return None;
        }
        i = skip_ws(b, i + 1);
    }
    if b.get(i) == Some(&b']') {
        None
    } else {
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_values_by_path() {
        let text = "{\n  \"a\": [1, {\"b c\": \"x\", \"d\": {\"e\": true}}],\n  \"f\": \"]\"\n}";
        assert_eq!(
            line_col(text, locate(text, "$.a[1]['b c']").expect("found")),
            (2, 20)
        );
        assert_eq!(
            line_col(text, locate(text, "$.a[1].d.e").expect("found")),
            (2, 36)
        );
        assert_eq!(line_col(text, locate(text, "$.f").expect("found")), (3, 8));
        // A missing step stops at the deepest value found.
        assert_eq!(
            line_col(text, locate(text, "$.a[1].zz").expect("found")),
            (2, 12)
        );
        assert_eq!(
            line_col(text, locate(text, "$.a<copy 3>[0]").expect("found")),
            (2, 9)
        );
    }
}
