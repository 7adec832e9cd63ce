//! Property tests of the two state machines: the circuit breaker against a model of the documented rules, and
//! the load balancer's choice (priority first, proportional weights, even round-robin).

use apim_backend::balancer::Balancer;
use apim_backend::breaker::{CircuitBreaker, Event, Outcome};
use apim_backend::{BreakerRule, Pool, PoolMember, Threshold};
use proptest::prelude::*;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Step {
    Ok,
    ServerError,
    Throttled(u64),
    ListedError,
    OtherError,
}

fn step() -> impl Strategy<Value = (u64, Step)> {
    (
        0u64..40_000,
        prop_oneof![
            Just(Step::Ok),
            Just(Step::ServerError),
            (0u64..90).prop_map(Step::Throttled),
            Just(Step::ListedError),
            Just(Step::OtherError),
        ],
    )
}

fn rule() -> impl Strategy<Value = BreakerRule> {
    (
        prop_oneof![
            (1u32..5).prop_map(Threshold::Count),
            (1u8..=100).prop_map(Threshold::Percentage)
        ],
        1u64..60,
        1u64..60,
        any::<bool>(),
    )
        .prop_map(
            |(threshold, interval, trip, accept_retry_after)| BreakerRule {
                name: "r".into(),
                threshold,
                interval: Duration::from_secs(interval),
                status_ranges: vec![429..=429, 500..=599],
                error_reasons: vec!["BackendConnectionFailure".into()],
                trip_duration: Duration::from_secs(trip),
                accept_retry_after,
                failure_status: None,
            },
        )
}

fn outcome(s: &Step) -> Outcome {
    match s {
        Step::Ok => Outcome::Response {
            status: 200,
            retry_after: None,
        },
        Step::ServerError => Outcome::Response {
            status: 503,
            retry_after: None,
        },
        Step::Throttled(r) => Outcome::Response {
            status: 429,
            retry_after: Some(Duration::from_secs(*r)),
        },
        Step::ListedError => Outcome::Error {
            reason: "BackendConnectionFailure".into(),
        },
        Step::OtherError => Outcome::Error {
            reason: "Timeout".into(),
        },
    }
}

proptest! {
    /// For any sequence of outcomes and clock ticks, the breaker trips exactly when the failures inside the
    /// window reach the threshold, stays open for the trip duration (or the accepted Retry-After), ignores
    /// outcomes while open, and closes when the time is over.
    #[test]
    fn breaker_follows_the_rules(rule in rule(), steps in proptest::collection::vec(step(), 1..80)) {
        let mut breaker = CircuitBreaker::new(rule.clone());
        let mut now = Duration::ZERO;
        // The model: outcomes since the last transition, and the open time.
        let mut seen: Vec<(Duration, bool)> = Vec::new();
        let mut open_until: Option<Duration> = None;
        for (advance_ms, s) in &steps {
            now += Duration::from_millis(*advance_ms);
            let o = outcome(s);
            let events = breaker.record(now, &o);
            let mut expected = Vec::new();
            if let Some(until) = open_until && now >= until {
                expected.push(Event::Closed { at: until });
                open_until = None;
                seen.clear();
            }
            if open_until.is_none() {
                let failed = matches!(s, Step::ServerError | Step::Throttled(_) | Step::ListedError);
                seen.push((now, failed));
                let window: Vec<_> = seen.iter().filter(|(t, _)| now - *t < rule.interval).collect();
                let failures = window.iter().filter(|(_, f)| *f).count() as u32;
                let trips = failed && match rule.threshold {
                    Threshold::Count(n) => failures >= n,
                    Threshold::Percentage(p) => failures * 100 >= p as u32 * window.len() as u32,
                };
                if trips {
                    let by_retry_after = rule.accept_retry_after && matches!(s, Step::Throttled(_));
                    let open_for = match s {
                        Step::Throttled(r) if rule.accept_retry_after => Duration::from_secs(*r),
                        _ => rule.trip_duration,
                    };
                    expected.push(Event::Tripped { at: now, until: now + open_for, failures, by_retry_after });
                    open_until = Some(now + open_for);
                    seen.clear();
                }
            }
            prop_assert_eq!(&events, &expected, "at {:?} after {:?}", now, s);
            prop_assert_eq!(breaker.is_open(now), open_until.is_some_and(|u| now < u));
        }
    }

    /// Unequal weights within one priority group: every member's share is its weight's share.
    #[test]
    fn weighted_picks_are_proportional(weights in proptest::collection::vec(1u8..=20, 2..6), rounds in 20usize..60) {
        let pool = Pool {
            members: weights.iter().enumerate().map(|(i, w)| PoolMember { backend: format!("b{i}"), priority: 1, weight: *w }).collect(),
            failure_status: None,
        };
        prop_assume!(weights.iter().any(|w| *w != weights[0]));
        let mut balancer = Balancer::new(&pool);
        let total: usize = weights.iter().map(|w| *w as usize).sum();
        let n = total * rounds;
        let mut counts = vec![0usize; weights.len()];
        for _ in 0..n {
            let i = balancer.pick(&pool, |_| true).expect("all available");
            counts[i] += 1;
        }
        for (i, w) in weights.iter().enumerate() {
            let share = counts[i] as f64 / n as f64;
            let expected = *w as f64 / total as f64;
            prop_assert!((share - expected).abs() < 0.01, "member {} got {} of {}, weight {} of {}", i, counts[i], n, w, total);
        }
    }

    /// Equal weights: round-robin, every member gets the same number of attempts.
    #[test]
    fn round_robin_is_even(members in 1usize..8, rounds in 1usize..30, weight in 0u8..5) {
        let pool = Pool {
            members: (0..members).map(|i| PoolMember { backend: format!("b{i}"), priority: 0, weight }).collect(),
            failure_status: None,
        };
        let mut balancer = Balancer::new(&pool);
        let mut counts = vec![0usize; members];
        let mut previous = None;
        for _ in 0..members * rounds {
            let i = balancer.pick(&pool, |_| true).expect("all available");
            if members > 1 {
                prop_assert_ne!(Some(i), previous);
            }
            previous = Some(i);
            counts[i] += 1;
        }
        prop_assert!(counts.iter().all(|c| *c == rounds), "{:?}", counts);
    }

    /// A lower-priority group is never chosen while a higher one has an available member, and nothing is chosen
    /// when no member is available.
    #[test]
    fn priority_groups_fail_over_in_order(
        members in proptest::collection::vec((0u8..4, 0u8..5), 1..8),
        availability in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 8), 1..40),
    ) {
        let pool = Pool {
            members: members.iter().enumerate().map(|(i, (p, w))| PoolMember { backend: format!("b{i}"), priority: *p, weight: *w }).collect(),
            failure_status: None,
        };
        let mut balancer = Balancer::new(&pool);
        for up in &availability {
            let available = |m: &PoolMember| up[m.backend[1..].parse::<usize>().expect("index")];
            let best = pool.members.iter().filter(|m| available(m)).map(|m| m.priority).min();
            match balancer.pick(&pool, available) {
                Some(i) => {
                    prop_assert!(available(&pool.members[i]));
                    prop_assert_eq!(Some(pool.members[i].priority), best);
                }
                None => prop_assert_eq!(best, None),
            }
        }
    }
}

#[test]
fn choose_says_how_it_chose() {
    use apim_backend::balancer::{Balancer, How};
    let pool = pool_of(&[(1, 3), (1, 1), (2, 1)]);
    let mut b = Balancer::new(&pool);
    let c = b.choose(&pool, |_| true).expect("a member");
    assert_eq!((c.index, c.group), (0, 1));
    assert_eq!(
        c.how,
        How::Weighted {
            total: 4,
            credits: vec![(0, 3), (1, 1)]
        }
    );
    let equal = pool_of(&[(1, 1), (1, 1), (2, 1)]);
    let mut b = Balancer::new(&equal);
    let picks: Vec<(usize, How)> = (0..3)
        .map(|_| {
            let c = b.choose(&equal, |m| m.backend != "m1").expect("a member");
            (c.index, c.how)
        })
        .collect();
    // m1 is unavailable: round-robin skips it and reports the position it landed on.
    assert_eq!(picks[0], (0, How::RoundRobin { position: 1, of: 2 }));
    assert_eq!(picks[1], (0, How::RoundRobin { position: 1, of: 2 }));
    let only_backup = b.choose(&equal, |m| m.backend == "m2").expect("the backup");
    assert_eq!((only_backup.index, only_backup.group), (2, 2));
}

fn pool_of(members: &[(u8, u8)]) -> Pool {
    Pool {
        members: members
            .iter()
            .enumerate()
            .map(|(i, (p, w))| PoolMember {
                backend: format!("m{i}"),
                priority: *p,
                weight: *w,
            })
            .collect(),
        failure_status: None,
    }
}
