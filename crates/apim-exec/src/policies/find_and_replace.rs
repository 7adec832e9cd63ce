//! `find-and-replace`: replaces every occurrence of `from` with `to` in the body of the current message.
//!
//! Azure: https://learn.microsoft.com/azure/api-management/find-and-replace-policy — inbound and backend work
//! on the request body, outbound and on-error on the response body; an empty `to` removes the matches. The
//! comparison is ordinal (case-sensitive), as .NET's `string.Replace` is.

use apim_policy::policies::find_and_replace as ast;
use apim_policy::spec::Section;

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

pub struct FindAndReplace {
    from: Cv<String>,
    to: Cv<String>,
}

pub(crate) fn compile(c: &mut Compiler, p: &ast::FindAndReplace) -> Option<FindAndReplace> {
    c.touches_body();
    Some(FindAndReplace {
        from: c.value(&p.from)?,
        to: c.value(&p.to)?,
    })
}

pub(crate) fn run(
    p: &FindAndReplace,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let from = eval(&p.from, ex, rt, plan, "from")?;
    let to = eval(&p.to, ex, rt, plan, "to")?;
    let body = match ex.section {
        Section::Inbound | Section::Backend => ex.request_body.as_ref(),
        Section::Outbound | Section::OnError => ex.response.as_ref().map(|(_, b)| b),
    };
    let Some(body) = body else {
        note!(ex, "find-and-replace: no body".to_string());
        return Ok(Flow::Continue);
    };
    let text = body.peek().unwrap_or_default();
    // Deviation: .NET's Replace throws on an empty `from` (what APIM then does is UNVERIFIED); here an empty
    // `from` changes nothing instead of matching between every character.
    let count = if from.is_empty() {
        0
    } else {
        text.matches(from.as_str()).count()
    };
    if count > 0 {
        body.set(Some(text.replace(from.as_str(), &to)));
    }
    note!(
        ex,
        format!("find-and-replace: {count} occurrence(s) of {from:?}")
    );
    Ok(Flow::Continue)
}
