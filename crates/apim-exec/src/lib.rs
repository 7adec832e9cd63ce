//! Runs APIM policy documents. [`compile`] turns scoped documents (global → … → operation), fragments, named
//! values and backends into an immutable [`Plan`]; [`Plan::run`] executes one request through inbound, backend,
//! outbound and on-error. The executor opens no sockets and reads no clock: upstream calls, time, randomness and
//! managed-identity tokens come from the [`Runtime`], so the gateway and the tests run the same code.

/// Adds a trace line to an exchange when tracing; the text is only built then.
macro_rules! note {
    ($ex:expr, $line:expr) => {
        if $ex.tracing {
            let line: String = $line;
            $ex.trace.push(line);
        }
    };
}

/// Records an explain [`explain::Fact`] when the request is traced.
macro_rules! fact {
    ($ex:expr, $fact:expr) => {
        if $ex.tracing {
            let fact: $crate::explain::Fact = $fact;
            $ex.facts.push(fact);
        }
    };
}

mod compile;
pub mod explain;
pub mod io;
mod policies;
mod run;

pub use compile::{CompileOptions, Plan, compile};
pub use io::{
    BoxFuture, ByteStream, Clock, Deferred, HttpVersion, LocalTokenIssuer, Spawn, Streamed,
    TokenIssuer, Upstream, UpstreamError, UpstreamRequest, UpstreamResponse, VirtualClock,
};
pub use policies::EXECUTED;
pub use policies::authorization_context::connection_key;
pub use policies::log_to_eventhub::{EventRecord, EventSink, KEPT_EVENT_BYTES, KEPT_EVENTS};
pub use policies::metrics::{KEPT_METRICS, MetricRecord, usage_of};
pub use policies::token_limit::estimate_tokens;
pub use run::{Backends, Incoming, Outcome, Runtime};
