//! `cache-store-value`, `cache-lookup-value`, `cache-remove-value`: an in-memory cache whose entries expire on
//! the injected clock (reference 02; APIM's internal cache, which apim-emu uses whatever `caching-type` says).

use std::time::Duration;

use apim_policy::policies::cache_lookup_value as last;
use apim_policy::policies::cache_remove_value as rast;
use apim_policy::policies::cache_store_value as sast;
use apim_policy::value::{Seconds, Value};

use crate::Plan;
use crate::compile::{Compiler, Cv};
use crate::run::{Exchange, Flow, PolicyError, Runtime, eval, eval_value};

pub struct Store {
    key: Cv<String>,
    value: Cv<String>,
    duration: Cv<Seconds>,
}

pub struct Lookup {
    key: Cv<String>,
    variable: String,
    default: Option<Cv<String>>,
}

pub struct Remove {
    key: Cv<String>,
}

pub(crate) fn compile_store(c: &mut Compiler, p: &sast::CacheStoreValue) -> Option<Store> {
    Some(Store {
        key: c.value(&p.key)?,
        value: c.value(&p.value)?,
        duration: c.value(&p.duration)?,
    })
}

pub(crate) fn compile_lookup(c: &mut Compiler, p: &last::CacheLookupValue) -> Option<Lookup> {
    let variable = match &p.variable_name {
        Value::Literal { value, .. } => value.clone(),
        other => {
            c.error(other.span(), "variable-name must be a literal");
            return None;
        }
    };
    Some(Lookup {
        key: c.value(&p.key)?,
        variable,
        default: c.opt(&p.default_value)?,
    })
}

pub(crate) fn compile_remove(c: &mut Compiler, p: &rast::CacheRemoveValue) -> Option<Remove> {
    Some(Remove {
        key: c.value(&p.key)?,
    })
}

pub(crate) fn run_store(
    p: &Store,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let key = eval(&p.key, ex, rt, plan, "key")?;
    let value = eval_value(&p.value, ex, rt, plan)?;
    let seconds = eval(&p.duration, ex, rt, plan, "duration")?.0;
    let until = rt
        .clock
        .now()
        .checked_add(Duration::from_secs(seconds))
        .unwrap_or(Duration::MAX);
    note!(ex, format!("cache-store-value: {key} for {seconds} s"));
    rt.cache.lock().insert(key, (value, until));
    Ok(Flow::Continue)
}

pub(crate) fn run_lookup(
    p: &Lookup,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let key = eval(&p.key, ex, rt, plan, "key")?;
    let now = rt.clock.now();
    let hit = {
        let mut cache = rt.cache.lock();
        match cache.get(&key) {
            Some((v, until)) if now < *until => Some(v.clone()),
            Some(_) => {
                cache.remove(&key);
                None
            }
            None => None,
        }
    };
    let value = match hit {
        Some(v) => {
            note!(ex, format!("cache-lookup-value: {key} hit"));
            v
        }
        None => {
            note!(ex, format!("cache-lookup-value: {key} miss"));
            // Azure: on a miss the variable gets default-value, or null without one.
            match &p.default {
                Some(d) => eval_value(d, ex, rt, plan)?,
                None => apim_expr::Value::null(),
            }
        }
    };
    ex.variables.set(&p.variable, value);
    Ok(Flow::Continue)
}

pub(crate) fn run_remove(
    p: &Remove,
    ex: &mut Exchange,
    rt: &Runtime,
    plan: &Plan,
) -> Result<Flow, PolicyError> {
    let key = eval(&p.key, ex, rt, plan, "key")?;
    note!(ex, format!("cache-remove-value: {key}"));
    rt.cache.lock().remove(&key);
    Ok(Flow::Continue)
}
