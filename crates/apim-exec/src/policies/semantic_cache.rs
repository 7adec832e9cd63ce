//! `llm-`/`azure-openai-semantic-cache-lookup` and `-store`: replies cached by the meaning of the prompt.
//!
//! Azure (https://learn.microsoft.com/azure/api-management/llm-semantic-cache-lookup-policy and the store page):
//! - the lookup (inbound) turns the prompt into a vector through the embeddings backend entity
//!   (`embeddings-backend-id`, a Custom URL backend whose URL is the whole `…/deployments/<name>/embeddings`
//!   address, authenticated with the gateway's system-assigned identity) and returns a cached reply whose
//!   prompt is within `score-threshold`; smaller thresholds need closer prompts ("lower values require higher
//!   semantic similarity", start at 0.05, above 0.2 risks mismatches), so the score is a distance;
//! - `ignore-system-messages="true"` leaves system messages out; with `max-message-count`, a prompt of more
//!   messages than that is not cached; `vary-by` values, concatenated, partition the cache;
//! - the store (outbound) keeps the reply for `duration` seconds; only 200 OK replies unless `cache-response`
//!   is true (newest revision of the store page); a failing cache raises no error.
//! - A hit skips the rest of inbound and the backend, and processing goes on in outbound after the store
//!   policy: Microsoft's AI gateway labs' semantic-caching policy says "If successful, the policy automatically
//!   moves past the azure-openai-semantic-cache-store policy", which is what `cache-lookup`/`cache-store` do.
//!   UNVERIFIED beyond that: when the store sits inside choose or retry, outbound goes on after that top-level
//!   step; without a store, outbound runs whole.
//!
//! UNVERIFIED (the docs are silent) and apim-emu's choices: the distance is the cosine distance (1 − cosine
//! similarity) and a prompt at exactly the threshold is a hit; the nearest live entry is returned; the prompt is
//! the messages' text joined by newlines ([`super::llm_text`]); `max-message-count` counts the messages left
//! after system messages are dropped, and a prompt it skips is neither looked up nor stored; the embeddings
//! request is `{"input": prompt}` POSTed to the backend's URL as it is; a failing embeddings call is a miss and
//! nothing is stored; a store without a missed lookup before it stores nothing; besides `vary-by`, entries are
//! kept apart by API and by whether the request streams (`"stream": true`), so a streaming client never gets a
//! cached JSON reply. Deviation: the cache (APIM: an external Redis with RediSearch) is in memory, per gateway,
//! at most [`KEPT_ENTRIES`] entries and [`KEPT_BYTES`] of bodies.

use std::collections::VecDeque;
use std::time::Duration;

use apim_expr::{BodyHandle, ResponseData};
use apim_policy::policies::azure_openai_semantic_cache_lookup as aoai_lookup;
use apim_policy::policies::azure_openai_semantic_cache_store as aoai_store;
use apim_policy::policies::llm_semantic_cache_lookup as llm_lookup;
use apim_policy::policies::llm_semantic_cache_store as llm_store;
use apim_policy::value::Seconds;

use crate::Plan;
use crate::compile::{Compiler, Cv, Step};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval};

use super::side_call::{self, SideCall};

/// The most entries the cache keeps; the oldest go first.
pub const KEPT_ENTRIES: usize = 1024;
/// The most body bytes the cache keeps.
pub const KEPT_BYTES: usize = 64 * 1024 * 1024;

/// The audience of the embeddings call's token (`embeddings-backend-auth="system-assigned"`).
const COGNITIVE_SERVICES: &str = "https://cognitiveservices.azure.com/";

pub struct Lookup {
    policy: &'static str,
    threshold: Cv<f64>,
    backend: Cv<String>,
    ignore_system: Option<Cv<bool>>,
    max_messages: Option<Cv<i64>>,
    vary_by: Vec<Cv<String>>,
}

pub struct Store {
    policy: &'static str,
    duration: Cv<Seconds>,
    cache_response: Option<Cv<bool>>,
}

/// One cached reply.
#[derive(Debug, Clone)]
pub struct SemanticEntry {
    partition: String,
    vector: Vec<f64>,
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    /// Clock time it expires.
    until: Duration,
}

/// The cache of a runtime, oldest first.
pub type SemanticCache = VecDeque<SemanticEntry>;

/// What a lookup that missed leaves for the store.
#[derive(Debug, Clone)]
pub struct PendingStore {
    partition: String,
    vector: Vec<f64>,
}

macro_rules! compile_lookup_fn {
    ($name:ident, $ty:ty, $policy:literal) => {
        pub(crate) fn $name(c: &mut Compiler, p: &$ty) -> Option<Lookup> {
            c.touches_body();
            let mut vary_by = Vec::new();
            for v in &p.vary_bys {
                match &v.content.0 {
                    Some(value) => vary_by.push(c.value(value)?),
                    None => vary_by.push(Cv::Lit(String::new())),
                }
            }
            // embeddings-backend-auth has one value (system-assigned); it is checked by the parser.
            let backend = c.value(&p.embeddings_backend_id)?;
            if let Cv::Lit(id) = &backend
                && !c.known_backend(id, p.embeddings_backend_id.span())
            {
                return None;
            }
            Some(Lookup {
                policy: $policy,
                threshold: c.value(&p.score_threshold)?,
                backend,
                ignore_system: c.opt(&p.ignore_system_messages)?,
                max_messages: c.opt(&p.max_message_count)?,
                vary_by,
            })
        }
    };
}

compile_lookup_fn!(
    compile_lookup_llm,
    llm_lookup::LlmSemanticCacheLookup,
    "llm-semantic-cache-lookup"
);
compile_lookup_fn!(
    compile_lookup_aoai,
    aoai_lookup::AzureOpenaiSemanticCacheLookup,
    "azure-openai-semantic-cache-lookup"
);

macro_rules! compile_store_fn {
    ($name:ident, $ty:ty, $policy:literal) => {
        pub(crate) fn $name(c: &mut Compiler, p: &$ty) -> Option<Store> {
            // The reply is kept, so it is read whole (an unbuffered stream is buffered).
            c.touches_body();
            Some(Store {
                policy: $policy,
                duration: c.value(&p.duration)?,
                cache_response: c.opt(&p.cache_response)?,
            })
        }
    };
}

compile_store_fn!(
    compile_store_llm,
    llm_store::LlmSemanticCacheStore,
    "llm-semantic-cache-store"
);
compile_store_fn!(
    compile_store_aoai,
    aoai_store::AzureOpenaiSemanticCacheStore,
    "azure-openai-semantic-cache-store"
);

/// 1 − cosine similarity: 0 for the same direction, 1 for unrelated, 2 for opposite; `None` when the vectors
/// cannot be compared (different lengths, a zero vector).
pub fn cosine_distance(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let (mut dot, mut na, mut nb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return None;
    }
    // Rounding can put the same direction a hair below zero; huge components overflow to NaN.
    let d = 1.0 - dot / (na.sqrt() * nb.sqrt());
    d.is_finite().then(|| d.max(0.0))
}

/// The first embedding of an embeddings reply (`data[0].embedding`).
fn embedding_of(json: &serde_json::Value) -> Option<Vec<f64>> {
    json.get("data")?
        .get(0)?
        .get("embedding")?
        .as_array()?
        .iter()
        .map(serde_json::Value::as_f64)
        .collect()
}

pub(crate) async fn run_lookup(
    p: &Lookup,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let threshold = eval(&p.threshold, ex, rt, plan, "score-threshold")?;
    let backend = eval(&p.backend, ex, rt, plan, "embeddings-backend-id")?;
    let ignore_system = match &p.ignore_system {
        Some(v) => eval(v, ex, rt, plan, "ignore-system-messages")?,
        None => false,
    };
    let max_messages = match &p.max_messages {
        Some(v) => Some(eval(v, ex, rt, plan, "max-message-count")?),
        None => None,
    };
    let mut partition = String::new();
    for v in &p.vary_by {
        partition.push_str(&eval(v, ex, rt, plan, "vary-by")?);
    }
    let body = ex
        .request_body
        .as_ref()
        .and_then(BodyHandle::peek)
        .unwrap_or_default();
    let streams = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("stream").and_then(serde_json::Value::as_bool))
        .unwrap_or(false);
    let api = ex
        .info_json
        .pointer("/api/id")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    // The vary-by text stays first, then what apim-emu adds (see the module's notes).
    partition.push_str(&format!("\u{1f}{api}\u{1f}{streams}"));
    let Some(mut messages) = super::llm_text::prompt_messages(&body) else {
        note!(
            ex,
            format!("{}: the request has no prompt; not cached", p.policy)
        );
        return Ok(Flow::Continue);
    };
    if ignore_system {
        messages.retain(|m| m.role != "system");
    }
    if let Some(max) = max_messages
        && messages.len() as i64 > max
    {
        note!(
            ex,
            format!(
                "{}: {} messages, more than max-message-count {max}; not cached",
                p.policy,
                messages.len()
            )
        );
        return Ok(Flow::Continue);
    }
    let prompt = super::llm_text::joined(&messages);
    if prompt.trim().is_empty() {
        note!(
            ex,
            format!("{}: the prompt has no text; not cached", p.policy)
        );
        return Ok(Flow::Continue);
    }
    let answer = side_call::send(
        SideCall {
            policy: p.policy,
            backend_id: &backend,
            path: "",
            query: &[],
            body: serde_json::json!({ "input": prompt }),
            identity: Some(COGNITIVE_SERVICES),
        },
        ex,
        rt,
    )
    .await;
    let vector = match answer {
        Ok(a) if (200..300).contains(&a.status) => a.json.as_ref().and_then(embedding_of),
        Ok(a) => {
            note!(
                ex,
                format!(
                    "{}: the embeddings backend answered {}; treated as a miss, nothing will be stored",
                    p.policy, a.status
                )
            );
            return Ok(Flow::Continue);
        }
        Err(m) => {
            note!(
                ex,
                format!(
                    "{}: {m}; treated as a miss, nothing will be stored",
                    p.policy
                )
            );
            return Ok(Flow::Continue);
        }
    };
    let Some(vector) = vector else {
        note!(
            ex,
            format!(
                "{}: the embeddings reply has no data[0].embedding; treated as a miss",
                p.policy
            )
        );
        return Ok(Flow::Continue);
    };
    let now = rt.clock.now();
    let nearest = {
        let mut cache = rt.semantic_cache.lock();
        cache.retain(|e| now < e.until);
        cache
            .iter()
            .filter(|e| e.partition == partition)
            .filter_map(|e| cosine_distance(&vector, &e.vector).map(|d| (d, e)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(d, e)| (d, e.clone()))
    };
    match nearest {
        Some((distance, entry)) if distance <= threshold => {
            note!(
                ex,
                format!(
                    "{}: hit (distance {distance:.4} ≤ score-threshold {threshold}); the cached reply is returned, outbound goes on after the store",
                    p.policy
                )
            );
            ex.response = Some((
                ResponseData {
                    status: entry.status,
                    reason: entry.reason,
                    headers: entry.headers,
                },
                BodyHandle::new(entry.body),
            ));
            ex.response_stream = None;
            Ok(Flow::CacheHit)
        }
        nearest => {
            note!(
                ex,
                match nearest {
                    Some((distance, _)) => format!(
                        "{}: miss (nearest distance {distance:.4} > score-threshold {threshold})",
                        p.policy
                    ),
                    None => format!("{}: miss (no cached prompt to compare)", p.policy),
                }
            );
            ex.semantic_pending = Some(PendingStore { partition, vector });
            Ok(Flow::Continue)
        }
    }
}

/// Headers a cached reply does not keep (recomputed when it is sent again).
const NOT_KEPT: &[&str] = &["content-length", "transfer-encoding", "connection", "date"];

pub(crate) fn run_store(
    p: &Store,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let seconds = eval(&p.duration, ex, rt, plan, "duration")?.0;
    let any_status = match &p.cache_response {
        Some(v) => eval(v, ex, rt, plan, "cache-response")?,
        None => false,
    };
    let Some(pending) = ex.semantic_pending.take() else {
        note!(
            ex,
            format!(
                "{}: no missed lookup in this request; nothing stored",
                p.policy
            )
        );
        return Ok(Flow::Continue);
    };
    let Some((response, body)) = &ex.response else {
        return Ok(Flow::Continue);
    };
    if response.status != 200 && !any_status {
        note!(
            ex,
            format!(
                "{}: status {} is not 200; not stored",
                p.policy, response.status
            )
        );
        return Ok(Flow::Continue);
    }
    let until = rt
        .clock
        .now()
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or(Duration::MAX);
    let entry = SemanticEntry {
        partition: pending.partition,
        vector: pending.vector,
        status: response.status,
        reason: response.reason.clone(),
        headers: response
            .headers
            .iter()
            .filter(|(n, _)| !NOT_KEPT.contains(&n.to_ascii_lowercase().as_str()))
            .cloned()
            .collect(),
        // What the client gets: nothing if an outbound expression consumed the body.
        body: body.outgoing(),
        until,
    };
    let size = |e: &SemanticEntry| e.body.as_ref().map_or(0, String::len) + e.vector.len() * 8;
    if size(&entry) > KEPT_BYTES {
        note!(ex, format!("{}: the reply is too large to keep", p.policy));
        return Ok(Flow::Continue);
    }
    {
        let now = rt.clock.now();
        let mut cache = rt.semantic_cache.lock();
        cache.retain(|e| now < e.until);
        let mut total: usize = cache.iter().map(size).sum::<usize>() + size(&entry);
        while cache.len() >= KEPT_ENTRIES || total > KEPT_BYTES {
            match cache.pop_front() {
                Some(old) => total -= size(&old),
                None => break,
            }
        }
        cache.push_back(entry);
    }
    note!(
        ex,
        format!("{}: stored the reply for {seconds} s", p.policy)
    );
    Ok(Flow::Continue)
}

/// The outbound steps to run after a cache hit: those after the top-level step that is or holds the first store
/// policy (all of them without one).
pub(crate) fn after_store(steps: &[Step]) -> &[Step] {
    match steps.iter().position(|s| {
        s.holds("llm-semantic-cache-store") || s.holds("azure-openai-semantic-cache-store")
    }) {
        Some(i) => &steps[i + 1..],
        None => steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_distance_is_zero_for_the_same_direction() {
        assert_eq!(cosine_distance(&[1.0, 0.0], &[2.0, 0.0]), Some(0.0));
        assert_eq!(cosine_distance(&[1.0, 0.0], &[0.0, 3.0]), Some(1.0));
        assert_eq!(cosine_distance(&[1.0, 0.0], &[-1.0, 0.0]), Some(2.0));
        assert_eq!(cosine_distance(&[1.0], &[1.0, 2.0]), None);
        assert_eq!(cosine_distance(&[0.0, 0.0], &[1.0, 2.0]), None);
    }
}
