//! `llm-content-safety`: prompts (inbound) and completions (outbound, or inbound with
//! `enforce-on-completions`) checked by Azure AI Content Safety, 403 when it finds harm.
//!
//! Azure (https://learn.microsoft.com/azure/api-management/llm-content-safety-policy):
//! - the text is the concatenation of the request's (or reply's) text content, or, with `window-size`, windows
//!   of that many characters overlapping by `window-overlap-size`; each window is checked;
//! - a configured category whose severity is at or above its `threshold` blocks ("content with severity less
//!   than the threshold is not blocked"); so does a match on a listed blocklist, and, with `shield-prompt`, a
//!   prompt attack; the request (or response) is then refused with 403;
//! - text over the service's limit (10,000 characters per analysis) is refused with 403 (newest revision);
//! - `enforce-on-completions` is honoured in inbound only (the reply is checked when the backend answers).
//!
//! The service's REST API (https://learn.microsoft.com/azure/ai-services/content-safety/quickstart-text and
//! quickstart-jailbreak): `POST {backend}/contentsafety/text:analyze?api-version=2024-09-01` with `text`,
//! `categories`, `blocklistNames`, `outputType`, answering `categoriesAnalysis[].{category,severity}` and
//! `blocklistsMatch[]`; `POST …/text:shieldPrompt` with `userPrompt`, answering
//! `userPromptAnalysis.attackDetected`.
//!
//! UNVERIFIED (undocumented) and apim-emu's choices: the api-version; the text of a chat is its messages' text
//! joined by newlines, system messages included; without categories or blocklists no analysis call is made;
//! blocklists are sent with `haltOnBlocklistHit: false`; Prompt Shields runs on prompts only (inbound, the whole
//! text as `userPrompt`, no documents); windows are checked in order and the first that blocks decides; a
//! window-size over 10,000 or an overlap not below the window is an error, and more than 100 windows a 403;
//! a completion blocked through `enforce-on-completions` reports `context.LastError.Section` inbound (where the
//! policy is);
//! the 403's body (`{"statusCode":403,"message":…}` as rate-limit's) and its error Reason
//! (`ContentSafetyViolation`); a failing Content Safety call is an error (Reason `ContentSafetyFailure`) that
//! on-error sees and that otherwise answers 500 (an earlier revision of the page: "internal error … 500").

use std::sync::Arc;

use apim_expr::{BodyHandle, ResponseData};
use apim_policy::policies::llm_content_safety as ast;
use apim_policy::spec::Section;

use crate::Plan;
use crate::compile::{Compiler, Cv, Step};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

use super::side_call::{self, SideCall};

const POLICY: &str = "llm-content-safety";
const API_VERSION: &str = "2024-09-01";
/// Characters one analysis takes (Content Safety's input limit).
const MAX_TEXT: usize = 10_000;

pub struct ContentSafety {
    backend: Cv<String>,
    shield_prompt: Option<Cv<bool>>,
    on_completions: Option<Cv<bool>>,
    window: Option<Cv<i64>>,
    overlap: Option<Cv<i64>>,
    output_type: Option<Cv<String>>,
    categories: Vec<(Cv<String>, Cv<i64>)>,
    blocklists: Vec<Cv<String>>,
}

/// A completion check left for when the backend answers (`enforce-on-completions` in inbound).
pub struct PendingCheck {
    policy: Arc<ContentSafety>,
    /// Where the policy is (scope, path, id, span), for `context.LastError`.
    at: (
        apim_policy::spec::Scope,
        String,
        Option<String>,
        apim_source::Span,
    ),
}

/// An enumerated attribute, evaluated through its text.
fn text_of<T: Copy>(cv: Cv<T>, text: impl Fn(T) -> &'static str) -> Cv<String> {
    match cv {
        Cv::Lit(v) => Cv::Lit(text(v).to_string()),
        Cv::Expr(compiled, source) => Cv::Expr(compiled, source),
    }
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::LlmContentSafety) -> Option<ContentSafety> {
    // The prompt (inbound) or the completion (outbound) is read whole.
    c.touches_body();
    let mut categories = Vec::new();
    let mut output_type = None;
    if let Some(cats) = &p.categories {
        output_type = c
            .opt(&cats.output_type)?
            .map(|v| text_of(v, ast::OutputType::as_str));
        for cat in &cats.categorys {
            categories.push((
                text_of(c.value(&cat.name)?, ast::Name::as_str),
                c.value(&cat.threshold)?,
            ));
        }
    }
    let mut blocklists = Vec::new();
    if let Some(lists) = &p.blocklists {
        for id in &lists.ids {
            if let Some(v) = &id.content.0 {
                blocklists.push(c.value(v)?);
            }
        }
    }
    let on_completions = c.opt(&p.enforce_on_completions)?;
    if on_completions.is_some() {
        // The reply is read when the backend answers.
        c.reads_response_body = true;
    }
    let backend = c.value(&p.backend_id)?;
    if let Cv::Lit(id) = &backend
        && !c.known_backend(id, p.backend_id.span())
    {
        return None;
    }
    Some(ContentSafety {
        backend,
        shield_prompt: c.opt(&p.shield_prompt)?,
        on_completions,
        window: c.opt(&p.window_size)?,
        overlap: c.opt(&p.window_overlap_size)?,
        output_type,
        categories,
        blocklists,
    })
}

fn refusal(message: String) -> PolicyError {
    let mut e = PolicyError::new(POLICY, "ContentSafetyViolation", message.clone());
    let body = serde_json::json!({ "statusCode": 403, "message": message });
    e.response = Some(Box::new((
        ResponseData {
            status: 403,
            reason: "Forbidden".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
        },
        BodyHandle::new(Some(body.to_string())),
    )));
    e
}

fn failure(message: String) -> PolicyError {
    PolicyError::new(POLICY, "ContentSafetyFailure", message)
}

/// Windows a text may be cut into at most (apim-emu's bound on the calls one check makes).
const MAX_WINDOWS: usize = 100;

/// Where the windows of `size` characters overlapping by `overlap` start in a text of `len` characters.
fn window_starts(len: usize, size: usize, overlap: usize) -> impl Iterator<Item = usize> {
    let step = size.saturating_sub(overlap).max(1);
    let mut next = Some(0usize);
    std::iter::from_fn(move || {
        let start = next?;
        // The window that reaches the end is the last.
        next = (start.saturating_add(size) < len).then(|| start + step);
        Some(start)
    })
}

/// `text` cut into windows of `size` characters overlapping by `overlap` (the whole text when it fits).
#[cfg(test)]
fn windows(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    window_starts(chars.len(), size, overlap)
        .map(|start| {
            chars[start..(start + size).min(chars.len())]
                .iter()
                .collect()
        })
        .collect()
}

/// One Content Safety operation (`text:analyze`, `text:shieldPrompt`): its JSON answer, or an error.
async fn ask(
    backend: &str,
    operation: &str,
    body: serde_json::Value,
    ex: &mut Exchange,
    rt: &Runtime,
) -> Result<serde_json::Value, PolicyError> {
    let query = [("api-version".to_string(), API_VERSION.to_string())];
    let answer = side_call::send(
        SideCall {
            policy: POLICY,
            backend_id: backend,
            path: &format!("/contentsafety/{operation}"),
            query: &query,
            body,
            identity: None,
        },
        ex,
        rt,
    )
    .await
    .map_err(failure)?;
    if (200..300).contains(&answer.status) {
        Ok(answer.json.unwrap_or_default())
    } else {
        Err(failure(format!(
            "Content Safety answered {} to {operation}",
            answer.status
        )))
    }
}

/// Checks `text`: `Ok(None)` when it passes, `Ok(Some(why))` when it is to be blocked.
async fn check(
    p: &ContentSafety,
    text: &str,
    shield: bool,
    what: &str,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Option<String>, PolicyError> {
    let backend = eval(&p.backend, ex, rt, plan, "backend-id")?;
    let window = match &p.window {
        Some(v) => Some(eval(v, ex, rt, plan, "window-size")?),
        None => None,
    };
    let overlap = match &p.overlap {
        Some(v) => eval(v, ex, rt, plan, "window-overlap-size")?,
        None => 0,
    };
    let output_type = match &p.output_type {
        Some(v) => Some(eval(v, ex, rt, plan, "output-type")?),
        None => None,
    };
    let mut categories = Vec::new();
    for (name, threshold) in &p.categories {
        categories.push((
            eval(name, ex, rt, plan, "name")?,
            eval(threshold, ex, rt, plan, "threshold")?,
        ));
    }
    let mut blocklists = Vec::new();
    for id in &p.blocklists {
        blocklists.push(eval(id, ex, rt, plan, "id")?);
    }
    let analyze = !categories.is_empty() || !blocklists.is_empty();
    if !analyze && !shield {
        note!(
            ex,
            format!("{POLICY}: no categories, blocklists or shield-prompt; nothing to check")
        );
        return Ok(None);
    }
    let chars: Vec<char> = text.chars().collect();
    let size = match window {
        Some(size) if size > 0 => {
            let size = size as usize;
            let overlap = overlap.max(0) as usize;
            // apim-emu's checks (UNVERIFIED: what APIM does with such settings is not documented).
            if size > MAX_TEXT {
                return Err(failure(format!(
                    "window-size {size} is over what Content Safety analyses at once ({MAX_TEXT} characters)"
                )));
            }
            if overlap >= size {
                return Err(failure(format!(
                    "window-overlap-size {overlap} must be less than window-size {size}"
                )));
            }
            let count = window_starts(chars.len(), size, overlap)
                .take(MAX_WINDOWS + 1)
                .count();
            if count > MAX_WINDOWS {
                return Ok(Some(format!(
                    "the {what} needs more than {MAX_WINDOWS} windows of {size} characters (apim-emu's limit)"
                )));
            }
            size
        }
        _ => {
            // Azure (newest revision): text over the limit is refused with 403.
            if chars.len() > MAX_TEXT {
                return Ok(Some(format!(
                    "the {what} has {} characters, more than Content Safety analyses at once ({MAX_TEXT}); set window-size",
                    chars.len()
                )));
            }
            chars.len().max(1)
        }
    };
    let overlap = if size < chars.len() {
        overlap.max(0) as usize
    } else {
        0
    };
    let starts: Vec<usize> = window_starts(chars.len(), size, overlap).collect();
    let parts = starts.len();
    for (i, start) in starts.into_iter().enumerate() {
        let part: String = chars[start..(start + size).min(chars.len())]
            .iter()
            .collect();
        let at = if parts > 1 {
            format!(" (window {} of {parts})", i + 1)
        } else {
            String::new()
        };
        if analyze {
            let mut body = serde_json::json!({ "text": part });
            if !categories.is_empty() {
                body["categories"] = serde_json::json!(
                    categories
                        .iter()
                        .map(|(n, _)| n.clone())
                        .collect::<Vec<_>>()
                );
            }
            if !blocklists.is_empty() {
                body["blocklistNames"] = serde_json::json!(blocklists);
                body["haltOnBlocklistHit"] = serde_json::json!(false);
            }
            if let Some(t) = &output_type {
                body["outputType"] = serde_json::json!(t);
            }
            let json = ask(&backend, "text:analyze", body, ex, rt).await?;
            if let Some(m) = json
                .get("blocklistsMatch")
                .and_then(serde_json::Value::as_array)
                .and_then(|m| m.first())
            {
                let list = m
                    .get("blocklistName")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?");
                return Ok(Some(format!("the {what} matches blocklist {list}{at}")));
            }
            let severities = json
                .get("categoriesAnalysis")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (name, threshold) in &categories {
                let severity = severities
                    .iter()
                    .find(|c| {
                        c.get("category")
                            .and_then(serde_json::Value::as_str)
                            .is_some_and(|c| c.eq_ignore_ascii_case(name))
                    })
                    .and_then(|c| c.get("severity"))
                    .and_then(serde_json::Value::as_i64)
                    .unwrap_or(0);
                note!(
                    ex,
                    format!("{POLICY}: {name} severity {severity} (threshold {threshold}){at}")
                );
                if severity >= *threshold {
                    return Ok(Some(format!(
                        "the {what} has {name} content of severity {severity}, at or above the threshold {threshold}{at}"
                    )));
                }
            }
        }
        if shield {
            let body = serde_json::json!({ "userPrompt": part, "documents": [] });
            let json = ask(&backend, "text:shieldPrompt", body, ex, rt).await?;
            let attack = json
                .pointer("/userPromptAnalysis/attackDetected")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false);
            note!(
                ex,
                format!("{POLICY}: prompt attack detected: {attack}{at}")
            );
            if attack {
                return Ok(Some(format!(
                    "a prompt attack was detected in the {what}{at}"
                )));
            }
        }
    }
    Ok(None)
}

pub(crate) async fn run(
    p: &Arc<ContentSafety>,
    step: &Step,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let inbound = ex.section != Section::Outbound;
    let (text, what) = if inbound {
        let body = ex
            .request_body
            .as_ref()
            .and_then(BodyHandle::peek)
            .unwrap_or_default();
        let text = super::llm_text::prompt_messages(&body).map(|m| super::llm_text::joined(&m));
        (text, "prompt")
    } else {
        let body = ex
            .response
            .as_ref()
            .and_then(|(_, b)| b.peek())
            .unwrap_or_default();
        (super::llm_text::completion_text(&body), "completion")
    };
    let shield = match (&p.shield_prompt, inbound) {
        (Some(v), true) => eval(v, ex, rt, plan, "shield-prompt")?,
        _ => false,
    };
    match text {
        Some(text) if !text.trim().is_empty() => {
            if let Some(why) = check(p, &text, shield, what, ex, rt, plan).await? {
                note!(ex, format!("{POLICY}: blocked: {why}"));
                let whose = if inbound { "Request" } else { "Response" };
                return Err(refusal(format!(
                    "{whose} blocked by content safety: {why}."
                )));
            }
            note!(ex, format!("{POLICY}: the {what} passed"));
        }
        _ => note!(ex, format!("{POLICY}: no {what} text to check")),
    }
    if inbound
        && let Some(v) = &p.on_completions
        && eval(v, ex, rt, plan, "enforce-on-completions")?
    {
        ex.pending_safety.push(PendingCheck {
            policy: p.clone(),
            at: (
                step.scope,
                step.path.clone(),
                step.policy_id.clone(),
                step.span.clone(),
            ),
        });
    }
    Ok(Flow::Continue)
}

/// Runs the completion checks inbound policies left (`enforce-on-completions`) once the backend has answered.
pub(crate) async fn settle(
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<(), PolicyError> {
    for pending in std::mem::take(&mut ex.pending_safety) {
        let body = ex
            .response
            .as_ref()
            .and_then(|(_, b)| b.peek())
            .unwrap_or_default();
        let Some(text) = super::llm_text::completion_text(&body) else {
            note!(ex, format!("{POLICY}: no completion text to check"));
            continue;
        };
        let located = |mut e: PolicyError| {
            let (scope, path, id, span) = pending.at.clone();
            e.at = Some(Box::new((scope, Section::Inbound, path, id)));
            e.span = Some(span);
            e
        };
        if let Some(why) = check(&pending.policy, &text, false, "completion", ex, rt, plan)
            .await
            .map_err(located)?
        {
            note!(ex, format!("{POLICY}: blocked: {why}"));
            return Err(located(refusal(format!(
                "Response blocked by content safety: {why}."
            ))));
        }
        note!(ex, format!("{POLICY}: the completion passed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::windows;

    #[test]
    fn windows_overlap() {
        assert_eq!(windows("abcdefg", 3, 1), vec!["abc", "cde", "efg"]);
        assert_eq!(windows("abcdefgh", 3, 0), vec!["abc", "def", "gh"]);
        assert_eq!(windows("abcdefgh", 3, 1), vec!["abc", "cde", "efg", "gh"]);
        assert_eq!(windows("ab", 3, 1), vec!["ab"]);
        assert_eq!(windows("", 3, 1), vec![""]);
    }
}
