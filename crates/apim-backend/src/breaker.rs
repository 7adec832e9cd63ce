//! The circuit breaker of one backend, as a pure state machine: time is an argument (a [`Duration`] since any
//! fixed origin), so a virtual clock drives it in tests and scenarios.
//!
//! Azure (backends.md, reference 03 §3): failures are counted within `interval`; a failure is a response whose
//! status is in any of `statusCodeRanges`, or an error whose reason is in `errorReasons`. When the count (or the
//! percentage of responses) reaches the threshold, the breaker trips and the gateway stops sending to the
//! backend for `tripDuration`; with `acceptRetryAfter`, a `Retry-After` on the tripping response sets how long
//! instead. After that the circuit closes again (no half-open probing is documented).

use crate::model::{BreakerRule, Threshold};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// What one forward attempt to the backend gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A response, with its `Retry-After` already read (see [`parse_retry_after`]).
    Response {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No response; `reason` as `context.LastError.Reason` names it (`BackendConnectionFailure`, `Timeout` …).
    Error { reason: String },
}

/// A transition, for the trace and for introspection.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Tripped {
        at: Duration,
        until: Duration,
        /// Failures counted in the window when it tripped.
        failures: u32,
        /// The open time came from the response's `Retry-After`.
        by_retry_after: bool,
    },
    Closed {
        at: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open { until: Duration },
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    rule: BreakerRule,
    /// Outcomes inside the current window: (time, was a failure).
    window: VecDeque<(Duration, bool)>,
    open_until: Option<Duration>,
    tripped_by: Option<String>,
}

impl CircuitBreaker {
    pub fn new(rule: BreakerRule) -> CircuitBreaker {
        CircuitBreaker {
            rule,
            window: VecDeque::new(),
            open_until: None,
            tripped_by: None,
        }
    }

    pub fn rule(&self) -> &BreakerRule {
        &self.rule
    }

    /// Failures counted in the window at `now`.
    pub fn failures(&self, now: Duration) -> u32 {
        self.window
            .iter()
            .filter(|(t, f)| *f && now.saturating_sub(*t) < self.rule.interval)
            .count() as u32
    }

    /// What tripped the breaker last (the status code or error reason), while it is open or after.
    pub fn tripped_by(&self) -> Option<String> {
        self.tripped_by.clone()
    }

    /// The state at `now` (an open breaker whose time is over counts as closed).
    pub fn state(&self, now: Duration) -> State {
        match self.open_until {
            Some(until) if now < until => State::Open { until },
            _ => State::Closed,
        }
    }

    pub fn is_open(&self, now: Duration) -> bool {
        matches!(self.state(now), State::Open { .. })
    }

    /// Closes the breaker when its open time is over; returns that transition.
    pub fn poll(&mut self, now: Duration) -> Option<Event> {
        match self.open_until {
            Some(until) if now >= until => {
                self.open_until = None;
                self.window.clear();
                Some(Event::Closed { at: until })
            }
            _ => None,
        }
    }

    pub fn is_failure(&self, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Response { status, .. } => {
                self.rule.status_ranges.iter().any(|r| r.contains(status))
            }
            Outcome::Error { reason } => self
                .rule
                .error_reasons
                .iter()
                .any(|x| x.eq_ignore_ascii_case(reason)),
        }
    }

    /// Records an outcome at `now`; returns the transitions it caused (a close that was due, then a trip).
    pub fn record(&mut self, now: Duration, outcome: &Outcome) -> Vec<Event> {
        let mut events: Vec<Event> = self.poll(now).into_iter().collect();
        if self.is_open(now) {
            // The gateway does not send to an open backend; an outcome that arrives anyway (a request already in
            // flight) does not extend the open time.
            return events;
        }
        let failed = self.is_failure(outcome);
        self.window.push_back((now, failed));
        while let Some((t, _)) = self.window.front() {
            if now.saturating_sub(*t) >= self.rule.interval {
                self.window.pop_front();
            } else {
                break;
            }
        }
        if !failed {
            return events;
        }
        let failures = self.window.iter().filter(|(_, f)| *f).count() as u32;
        let total = self.window.len() as u32;
        let trip = match self.rule.threshold {
            Threshold::Count(n) => failures >= n,
            Threshold::Percentage(p) => total > 0 && failures * 100 >= p as u32 * total,
        };
        if trip {
            let retry_after = match outcome {
                Outcome::Response {
                    retry_after: Some(d),
                    ..
                } if self.rule.accept_retry_after => Some(*d),
                _ => None,
            };
            let open_for = retry_after.unwrap_or(self.rule.trip_duration);
            let until = now + open_for;
            self.open_until = Some(until);
            self.window.clear();
            self.tripped_by = Some(match outcome {
                Outcome::Response { status, .. } => status.to_string(),
                Outcome::Error { reason } => reason.clone(),
            });
            events.push(Event::Tripped {
                at: now,
                until,
                failures,
                by_retry_after: retry_after.is_some(),
            });
        }
        events
    }
}

/// A `Retry-After` header value: delay seconds or an HTTP-date (relative to `now`, the wall clock).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(seconds) = v.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(threshold: Threshold, accept_retry_after: bool) -> BreakerRule {
        BreakerRule {
            name: "r".into(),
            threshold,
            interval: Duration::from_secs(60),
            status_ranges: vec![429..=429, 500..=599],
            error_reasons: vec!["BackendConnectionFailure".into()],
            trip_duration: Duration::from_secs(60),
            accept_retry_after,
            failure_status: None,
        }
    }

    fn status(s: u16) -> Outcome {
        Outcome::Response {
            status: s,
            retry_after: None,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn trips_when_the_count_is_reached_within_the_interval() {
        let mut b = CircuitBreaker::new(rule(Threshold::Count(3), false));
        assert!(b.record(S(0), &status(500)).is_empty());
        assert!(b.record(S(10), &status(200)).is_empty());
        assert!(b.record(S(20), &status(503)).is_empty());
        // The first failure left the window (60 s): still two.
        assert!(b.record(S(61), &status(500)).is_empty());
        let events = b.record(S(62), &status(429));
        assert_eq!(
            events,
            vec![Event::Tripped {
                at: S(62),
                until: S(122),
                failures: 3,
                by_retry_after: false
            }]
        );
        assert!(b.is_open(S(121)));
        assert_eq!(b.poll(S(122)), Some(Event::Closed { at: S(122) }));
        assert!(!b.is_open(S(122)));
    }

    #[test]
    fn retry_after_sets_the_open_time_when_accepted() {
        // A 429 with `Retry-After: 10` at t = 5 s: open for 10 s when accepted, for the trip duration otherwise.
        for (accept, until) in [(true, S(15)), (false, S(65))] {
            let mut b = CircuitBreaker::new(rule(Threshold::Count(1), accept));
            let throttled = Outcome::Response {
                status: 429,
                retry_after: Some(S(10)),
            };
            assert_eq!(
                b.record(S(5), &throttled),
                vec![Event::Tripped {
                    at: S(5),
                    until,
                    failures: 1,
                    by_retry_after: accept
                }]
            );
        }
    }

    #[test]
    fn percentage_and_error_reasons() {
        let mut b = CircuitBreaker::new(rule(Threshold::Percentage(50), false));
        assert!(b.record(S(0), &status(200)).is_empty());
        assert!(b.record(S(1), &status(200)).is_empty());
        // An error whose reason is not listed is not a failure: 0 of 3.
        assert!(
            b.record(
                S(2),
                &Outcome::Error {
                    reason: "Timeout".into()
                }
            )
            .is_empty()
        );
        // 1 of 4 = 25 %.
        assert!(
            b.record(
                S(3),
                &Outcome::Error {
                    reason: "BackendConnectionFailure".into()
                }
            )
            .is_empty()
        );
        // 2 of 5 = 40 %, then 3 of 6 = 50 %.
        assert!(b.record(S(4), &status(500)).is_empty());
        let events = b.record(S(5), &status(502));
        assert!(
            matches!(events.as_slice(), [Event::Tripped { failures: 3, .. }]),
            "{events:?}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("10", now), Some(S(10)));
        let later = httpdate::fmt_http_date(now + S(30));
        assert_eq!(parse_retry_after(&later, now), Some(S(30)));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
