//! Whether clusters hold the same history of a partition, before one is extended from
//! another. A log may only be extended if it is a prefix of the source at the same logical
//! offsets; clusters that already hold different data (written separately before the proxy
//! was put in front of them) must never have their histories mixed.
//!
//! Two logs are compared by batch marks (logical base offset, record count, and a checksum of
//! the batch without its producer id, epoch and sequence, which a copy by another producer may
//! change) at the shorter log's first batch and its last batch. A mismatch is narrowed down to
//! the first differing batch by bisection. Ends are high watermarks read by fetch, not
//! ListOffsets (Tansu answers LATEST with the last batch's base offset + 1).

use crate::backend::{BackendError, Cluster};
use crate::replication::partitions::ends;
use crate::replication::partitions::lanes::Tp;
use crate::wire::records;
use kafka_protocol::error::ResponseError;
use std::sync::Arc;

use crate::base::timing::{COMPARE_FETCH_BYTES, COMPARE_STEP_WAIT};

/// What identifies a batch across clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMark {
    /// Logical base offset.
    pub base: i64,
    /// Offsets it covers.
    pub count: i64,
    /// CRC32C of the batch from its attributes on, producer id, epoch and sequence left out.
    pub sum: u32,
}

/// One cluster's log of a partition, in logical offsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogView {
    /// End (high watermark).
    pub end: i64,
    /// The first batch, if any.
    pub first: Option<BatchMark>,
    /// The last batch, if any.
    pub last: Option<BatchMark>,
}

/// How two logs of a partition relate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The same batches.
    Same,
    /// The first is a prefix of the second, shorter by this many offsets.
    Prefix(i64),
    /// The second is a prefix of the first.
    Extends(i64),
    /// They differ from this logical offset on.
    Diverges(i64),
}

/// One cluster's standing on a partition after a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Holds the history the others agree on, to its end.
    InSync,
    /// Holds a prefix of it (or nothing), short by this many offsets.
    Behind(i64),
    /// Holds another history, differing from this logical offset on.
    Divergent(i64),
}

/// A cluster's side of a comparison: the cluster and its offset map (physical - logical).
#[derive(Clone)]
pub struct Side {
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// Physical minus logical offsets on it for the partition.
    pub delta: i64,
}

fn timed_out(c: &Cluster) -> BackendError {
    BackendError::NoAnswer {
        cluster: c.id.to_string(),
        during: "comparing logs",
        after: COMPARE_STEP_WAIT,
    }
}

impl Side {
    /// The batch holding logical offset `at` (or the first after it), if any.
    pub async fn mark_at(&self, tp: &Tp, at: i64) -> Result<Option<BatchMark>, BackendError> {
        Ok(self.marks_from(tp, at).await?.into_iter().next())
    }

    /// The complete batches of the log from the one holding logical offset `from`, as marks
    /// (one fetch's worth); empty when there is nothing there yet.
    pub async fn marks_from(&self, tp: &Tp, from: i64) -> Result<Vec<BatchMark>, BackendError> {
        let c = &self.cluster;
        let at = from + self.delta;
        let f = tokio::time::timeout(
            COMPARE_STEP_WAIT,
            ends::fetch_at_most(
                c,
                tp,
                at,
                crate::base::timing::PROMPT_FETCH_WAIT_MS,
                COMPARE_FETCH_BYTES,
            ),
        )
        .await
        .map_err(|_| timed_out(c))??;
        if f.error_code == ResponseError::OffsetOutOfRange.code() {
            return Ok(Vec::new());
        }
        if f.error_code != 0 {
            return Err(ends::fetch_failed(c, tp, at, f.error_code));
        }
        Ok(records::batches(&f.records)
            .into_iter()
            .filter(|(h, _)| h.base_offset + h.offsets > at)
            .map(|(h, r)| BatchMark {
                base: h.base_offset - self.delta,
                count: h.offsets,
                sum: records::covered_sum(&f.records[r], records::Covering::Stored),
            })
            .collect())
    }

    /// The log's end and first and last batches; `None` when the partition is not there.
    pub async fn view(&self, tp: &Tp) -> Result<Option<LogView>, BackendError> {
        let c = &self.cluster;
        let end = tokio::time::timeout(COMPARE_STEP_WAIT, ends::end_offset(c, tp))
            .await
            .map_err(|_| timed_out(c))??;
        let Some(end) = end else { return Ok(None) };
        let end = end - self.delta;
        if end <= 0 {
            return Ok(Some(LogView {
                end: end.max(0),
                first: None,
                last: None,
            }));
        }
        let first = self.mark_at(tp, -self.delta).await?;
        let last = self.mark_at(tp, end - 1).await?;
        Ok(Some(LogView { end, first, last }))
    }
}

/// How `a`'s log (viewed as `va`) relates to `b`'s (`vb`).
pub async fn relate(
    tp: &Tp,
    (a, va): (&Side, &LogView),
    (b, vb): (&Side, &LogView),
) -> Result<Relation, BackendError> {
    // Compare the shorter against the longer.
    let flip = va.end > vb.end;
    let ((s, vs), (l, vl)) = if flip {
        ((b, vb), (a, va))
    } else {
        ((a, va), (b, vb))
    };
    let by = vl.end - vs.end;
    let relation = match (vs.first, vs.last) {
        (Some(first), Some(last)) => {
            let start_agrees = match l.mark_at(tp, first.base).await? {
                Some(m) if m == first => true,
                // The longer log starts later (retention): compare from its first batch.
                _ => match vl.first {
                    Some(lf) if lf.base > first.base => s.mark_at(tp, lf.base).await? == Some(lf),
                    _ => false,
                },
            };
            if !start_agrees {
                return Ok(Relation::Diverges(first.base));
            }
            if l.mark_at(tp, last.base).await? == Some(last) {
                if by == 0 {
                    Relation::Same
                } else {
                    Relation::Prefix(by)
                }
            } else {
                Relation::Diverges(first_difference(tp, s, l, first.base, last.base).await?)
            }
        }
        // An empty log is a prefix of anything.
        _ if by == 0 => Relation::Same,
        _ => Relation::Prefix(by),
    };
    Ok(match (flip, relation) {
        (true, Relation::Prefix(n)) => Relation::Extends(n),
        (_, r) => r,
    })
}

/// The first logical offset where `s` and `l` differ, knowing they agree at `lo` and differ
/// at `hi` (both batch bases of `s`).
async fn first_difference(
    tp: &Tp,
    s: &Side,
    l: &Side,
    mut lo: i64,
    mut hi: i64,
) -> Result<i64, BackendError> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let Some(m) = s.mark_at(tp, mid).await? else {
            return Ok(hi);
        };
        if m.base <= lo || m.base >= hi {
            // No batch of `s` starts strictly between: `hi` is the next one after `lo`.
            break;
        }
        if l.mark_at(tp, m.base).await? == Some(m) {
            lo = m.base;
        } else {
            hi = m.base;
        }
    }
    Ok(hi)
}

/// The outcome of comparing one partition on several clusters.
pub struct Comparison {
    /// Per side: where it stands, or why its log could not be read.
    pub standings: Vec<Result<Standing, BackendError>>,
    /// Per side: its log's end (logical), when read; 0 for a missing partition.
    pub ends: Vec<Option<i64>>,
    /// The side whose history is the reference and longest.
    pub source: Option<usize>,
}

/// Compares every side's log of `tp` (sides in authority order) and says where each stands.
/// The history most clusters share wins (ties: the longer, then the one first in authority
/// order); clusters whose log is not a prefix of it are divergent.
pub async fn compare(tp: &Tp, sides: &[Side]) -> Comparison {
    let views = futures::future::join_all(sides.iter().map(|s| s.view(tp))).await;
    let n = sides.len();
    // Missing partitions are empty logs.
    let views: Vec<Result<LogView, BackendError>> = views
        .into_iter()
        .map(|v| {
            v.map(|v| {
                v.unwrap_or(LogView {
                    end: 0,
                    first: None,
                    last: None,
                })
            })
        })
        .collect();
    let ok: Vec<usize> = (0..n).filter(|&i| views[i].is_ok()).collect();
    let view = |i: usize| views[i].as_ref().ok().copied();
    let mut rel = vec![vec![None; n]; n];
    for (k, &i) in ok.iter().enumerate() {
        for &j in &ok[k + 1..] {
            if let (Some(vi), Some(vj)) = (view(i), view(j)) {
                let r = relate(tp, (&sides[i], &vi), (&sides[j], &vj)).await;
                let back = match &r {
                    Ok(Relation::Prefix(b)) => Ok(Relation::Extends(*b)),
                    Ok(Relation::Extends(b)) => Ok(Relation::Prefix(*b)),
                    Ok(other) => Ok(*other),
                    Err(e) => Err(e.clone()),
                };
                rel[i][j] = Some(r);
                rel[j][i] = Some(back);
            }
        }
    }
    let compatible = |i: usize, j: usize| {
        i == j
            || matches!(
                rel[i][j],
                Some(Ok(Relation::Same
                    | Relation::Prefix(_)
                    | Relation::Extends(_)))
            )
    };
    // The reference history: shared by most, then the longest, then first in authority.
    let reference = ok.iter().copied().max_by_key(|&r| {
        let agree = ok.iter().filter(|&&j| compatible(r, j)).count();
        let end = view(r).map_or(0, |v| v.end);
        (agree, end, std::cmp::Reverse(r))
    });
    let ends: Vec<Option<i64>> = (0..n).map(|i| view(i).map(|v| v.end)).collect();
    let Some(r) = reference else {
        return Comparison {
            standings: views
                .into_iter()
                .map(|v| v.map(|_| Standing::InSync))
                .collect(),
            ends,
            source: None,
        };
    };
    // The source: the longest log that agrees with the reference.
    let source = ok
        .iter()
        .copied()
        .filter(|&j| compatible(r, j))
        .max_by_key(|&j| (view(j).map_or(0, |v| v.end), std::cmp::Reverse(j)))
        .unwrap_or(r);
    let source_end = view(source).map_or(0, |v| v.end);
    let standings = views
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v?;
            if i == source {
                return Ok(Standing::InSync);
            }
            match &rel[i][source] {
                Some(Ok(Relation::Same)) => Ok(Standing::InSync),
                Some(Ok(Relation::Prefix(by))) => Ok(Standing::Behind(*by)),
                Some(Ok(Relation::Diverges(at))) => Ok(Standing::Divergent(*at)),
                // Longer than the source yet agreeing with it can only be a log the source
                // is a prefix of while the reference is not: it differs from the reference.
                Some(Ok(Relation::Extends(_))) => Ok(Standing::Divergent(source_end)),
                Some(Err(e)) => Err(e.clone()),
                None => Ok(Standing::Behind(source_end - v.end)),
            }
        })
        .collect();
    Comparison {
        standings,
        ends,
        source: Some(source),
    }
}
