//! What the proxy remembers about consumer groups across clusters: which cluster coordinates
//! each group (sticky: it moves only when that cluster fails, so a group never returns to a
//! cluster whose commits are stale), each group's last committed logical offsets (mirrored to
//! the other clusters and replayed to one that comes back, and the basis of the lag gauge),
//! and generations seen (for the rebalance counter).

use crate::backend::partitioned::Tp;
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::Mutex;

/// A committed offset, in logical offsets.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The next offset to consume.
    pub offset: i64,
    /// The client's metadata string.
    pub metadata: Option<StrBytes>,
}

/// Per-group state shared by every connection.
#[derive(Default)]
pub struct GroupBook {
    homes: Mutex<HashMap<StrBytes, usize>>,
    commits: Mutex<HashMap<StrBytes, HashMap<Tp, Commit>>>,
    generations: Mutex<HashMap<StrBytes, (usize, i32)>>,
}

impl GroupBook {
    /// The cluster coordinating `group`: its current home while `usable(home)`, else the
    /// `fallback` (which becomes the home). Returns the home and whether it just moved.
    pub fn home(
        &self,
        group: &StrBytes,
        usable: impl Fn(usize) -> bool,
        fallback: usize,
    ) -> (usize, Option<usize>) {
        let mut homes = self.homes.lock().unwrap_or_else(|p| p.into_inner());
        match homes.get(group).copied() {
            Some(h) if usable(h) => (h, None),
            Some(h) => {
                homes.insert(group.clone(), fallback);
                (fallback, (h != fallback).then_some(h))
            }
            None => {
                homes.insert(group.clone(), fallback);
                (fallback, None)
            }
        }
    }

    /// Records committed offsets of `group`.
    pub fn committed(&self, group: &StrBytes, offsets: impl IntoIterator<Item = (Tp, Commit)>) {
        let mut c = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        c.entry(group.clone()).or_default().extend(offsets);
    }

    /// Every group's last commits.
    pub fn all_commits(&self) -> Vec<(StrBytes, Vec<(Tp, Commit)>)> {
        let c = self.commits.lock().unwrap_or_else(|p| p.into_inner());
        c.iter()
            .map(|(g, m)| {
                (
                    g.clone(),
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                )
            })
            .collect()
    }

    /// Forgets deleted groups.
    pub fn forget(&self, group: &StrBytes) {
        if let Ok(mut c) = self.commits.lock() {
            c.remove(group);
        }
        if let Ok(mut h) = self.homes.lock() {
            h.remove(group);
        }
    }

    /// A JoinGroup answer with `generation` was seen from the group's coordinating cluster
    /// `home`; true if it is a new one (generations restart on another cluster).
    pub fn new_generation(&self, group: &StrBytes, home: usize, generation: i32) -> bool {
        let mut g = self.generations.lock().unwrap_or_else(|p| p.into_inner());
        let last = g.entry(group.clone()).or_insert((home, -1));
        if (home, generation) != *last {
            *last = (home, generation);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_stays_home_until_its_cluster_fails_and_does_not_return() {
        let book = GroupBook::default();
        let g = StrBytes::from_static_str("g");
        assert_eq!(book.home(&g, |_| true, 0), (0, None));
        assert_eq!(book.home(&g, |_| true, 1), (0, None), "sticky");
        assert_eq!(
            book.home(&g, |i| i != 0, 1),
            (1, Some(0)),
            "moves when 0 fails"
        );
        assert_eq!(book.home(&g, |_| true, 0), (1, None), "does not move back");
    }

    #[test]
    fn generations_count_once() {
        let book = GroupBook::default();
        let g = StrBytes::from_static_str("g");
        assert!(book.new_generation(&g, 0, 1));
        assert!(!book.new_generation(&g, 0, 1));
        assert!(book.new_generation(&g, 0, 2));
        assert!(
            book.new_generation(&g, 1, 2),
            "the same number on another cluster"
        );
    }
}
