//! The load balancer of a pool, asked once per forward attempt, as a pure state machine.
//!
//! Azure (backends.md, reference 03 §2): the lowest priority number that still has an available member wins
//! ("a lower-priority group is used only when all backends in higher-priority groups are unavailable because their
//! circuit breakers are tripped"); within it, requests are spread by weight when weights differ and evenly
//! (round-robin) otherwise. When no member is available the pool answers without calling any backend: 503, or
//! `pool.failureResponse.statusCode` when set.
//!
//! Deviation (documented): the weighted choice is smooth weighted round-robin (deterministic and exactly
//! proportional) where the gateway's method is undocumented; a member with weight 0 gets no traffic unless every
//! available member of its group has weight 0.

use crate::model::{Pool, PoolMember};
use std::collections::BTreeMap;

/// Azure: the reason text of an exhausted pool as observed from the gateway (reference 03 §2, UNVERIFIED wording;
/// Microsoft has changed it before). `{pool}` is replaced by the pool's name.
pub const DEFAULT_UNAVAILABLE_REASON: &str = "Backend pool {pool} is temporarily unavailable";

/// What a pool answers when no member is available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub status: u16,
    pub reason: String,
}

/// The pool-unavailable outcome: `failureResponse.statusCode` or 503, with the (configurable) reason text.
pub fn unavailable(pool_name: &str, pool: &Pool, reason_template: &str) -> Unavailable {
    Unavailable {
        status: pool.failure_status.unwrap_or(503),
        reason: reason_template.replace("{pool}", pool_name),
    }
}

#[derive(Debug, Clone, Default)]
pub struct Balancer {
    /// Round-robin position per priority group.
    cursors: BTreeMap<u8, usize>,
    /// Smooth weighted round-robin state per member index.
    current: Vec<i64>,
}

impl Balancer {
    pub fn new(pool: &Pool) -> Balancer {
        Balancer {
            cursors: BTreeMap::new(),
            current: vec![0; pool.members.len()],
        }
    }

    /// The index of the member the next attempt goes to, or `None` when no member is available.
    pub fn pick(&mut self, pool: &Pool, available: impl Fn(&PoolMember) -> bool) -> Option<usize> {
        self.choose(pool, available).map(|c| c.index)
    }

    /// [`Balancer::pick`] with how the member was chosen, for the explain trace.
    pub fn choose(
        &mut self,
        pool: &Pool,
        available: impl Fn(&PoolMember) -> bool,
    ) -> Option<Choice> {
        if self.current.len() != pool.members.len() {
            self.current = vec![0; pool.members.len()];
        }
        let group = pool
            .members
            .iter()
            .filter(|m| available(m))
            .map(|m| m.priority)
            .min()?;
        let in_group: Vec<usize> = (0..pool.members.len())
            .filter(|&i| pool.members[i].priority == group)
            .collect();
        let candidates: Vec<usize> = in_group
            .iter()
            .copied()
            .filter(|&i| available(&pool.members[i]))
            .collect();
        let weighted: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| pool.members[i].weight > 0)
            .collect();
        let candidates = if weighted.is_empty() {
            candidates
        } else {
            weighted
        };
        let first_weight = pool.members[candidates[0]].weight;
        if candidates
            .iter()
            .all(|&i| pool.members[i].weight == first_weight)
        {
            // Round-robin over the group's members in order, skipping unavailable ones.
            let cursor = self.cursors.entry(group).or_insert(0);
            let n = in_group.len();
            for step in 0..n {
                let position = (*cursor + step) % n;
                let i = in_group[position];
                if candidates.contains(&i) {
                    *cursor = (*cursor + step + 1) % n;
                    return Some(Choice {
                        index: i,
                        group,
                        how: How::RoundRobin {
                            position: position + 1,
                            of: n,
                        },
                    });
                }
            }
            return None;
        }
        let total: i64 = candidates
            .iter()
            .map(|&i| pool.members[i].weight as i64)
            .sum();
        let mut best = candidates[0];
        for &i in &candidates {
            self.current[i] += pool.members[i].weight as i64;
            if self.current[i] > self.current[best] {
                best = i;
            }
        }
        let credits = candidates.iter().map(|&i| (i, self.current[i])).collect();
        self.current[best] -= total;
        Some(Choice {
            index: best,
            group,
            how: How::Weighted {
                total: total as u64,
                credits,
            },
        })
    }
}

/// How [`Balancer::choose`] chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The member's index in the pool.
    pub index: usize,
    /// The priority group it came from (the lowest priority number with an available member).
    pub group: u8,
    pub how: How,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum How {
    /// Equal weights: the group's members in order; `position` (1-based) of `of` members.
    RoundRobin { position: usize, of: usize },
    /// Smooth weighted round-robin: each available member's credit after adding its weight (member index,
    /// credit); the highest wins and pays `total`.
    Weighted {
        total: u64,
        credits: Vec<(usize, i64)>,
    },
}
