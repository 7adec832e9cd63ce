//! API Management backends: single backends and load-balanced pools, read from ARM templates (through
//! `arm-template`) and APIOps extractor folders, validated as APIM validates them; and the two state machines the
//! gateway runs over them, the circuit breaker ([`breaker`]) and the pool load balancer ([`balancer`]), both pure:
//! time and randomness are arguments.

mod arm;
pub mod balancer;
pub mod breaker;
mod load;
mod model;
pub mod service;

pub use load::{Input, LoadOptions, Loaded, Problem, load};
pub use model::{
    Backend, BackendKind, BreakerRule, Credentials, Origin, Pool, PoolMember, Registry, Severity,
    Single, Threshold,
};
