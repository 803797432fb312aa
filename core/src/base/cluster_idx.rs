//! Clusters by position in authority order (see `control::topology::authority_order`): one
//! order in the whole process, so an index names one cluster everywhere. [`ClusterIdx`] is
//! such a position and [`PerCluster`] holds one entry per configured cluster, indexed only by
//! it, so a partition index or a count cannot be taken for a cluster by mistake.

use std::fmt;
use std::ops::{Index, IndexMut};

/// A cluster's position in authority order: `#0` is the authority, whose offsets clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterIdx(usize);

impl ClusterIdx {
    /// The first cluster in authority order: the authority, and the only one of a proxy over
    /// a single cluster.
    pub const FIRST: Self = Self(0);

    /// The cluster at position `i`, for unit tests only: elsewhere indices come from a
    /// [`PerCluster`] (or [`Self::range`]), so that they always name a configured cluster.
    #[cfg(test)]
    pub(crate) const fn new(i: usize) -> Self {
        Self(i)
    }

    /// Every index of `n` configured clusters, in authority order.
    pub fn range(n: usize) -> impl Iterator<Item = Self> + Clone {
        (0..n).map(Self)
    }

    /// Its position in authority order.
    pub const fn get(self) -> usize {
        self.0
    }

    /// Whether this is the authority ([`Self::FIRST`]).
    pub const fn is_first(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ClusterIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One entry per configured cluster, in authority order, indexed by [`ClusterIdx`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PerCluster<T>(Vec<T>);

impl<T> PerCluster<T> {
    /// An entry for each of `n` clusters, made by `f` from its index.
    pub fn from_fn(n: usize, f: impl FnMut(ClusterIdx) -> T) -> Self {
        Self(ClusterIdx::range(n).map(f).collect())
    }

    /// How many clusters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no clusters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Cluster `i`'s entry; `None` when there is no such cluster.
    pub fn get(&self, i: ClusterIdx) -> Option<&T> {
        self.0.get(i.0)
    }

    /// Cluster `i`'s entry, mutably; `None` when there is no such cluster.
    pub fn get_mut(&mut self, i: ClusterIdx) -> Option<&mut T> {
        self.0.get_mut(i.0)
    }

    /// The entries, in authority order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// The entries, mutably, in authority order.
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.0.iter_mut()
    }

    /// Every cluster's index, in authority order.
    pub fn indices(&self) -> impl Iterator<Item = ClusterIdx> + Clone + use<T> {
        ClusterIdx::range(self.0.len())
    }

    /// The entries with their clusters' indices, in authority order.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (ClusterIdx, &T)> + Clone {
        self.0.iter().enumerate().map(|(i, t)| (ClusterIdx(i), t))
    }

    /// The entries of the clusters ahead of `k` in authority order (none for the first).
    pub fn before(&self, k: ClusterIdx) -> std::slice::Iter<'_, T> {
        self.0[..k.0.min(self.0.len())].iter()
    }

    /// The first cluster whose entry satisfies `pred`.
    pub fn position(&self, pred: impl FnMut(&T) -> bool) -> Option<ClusterIdx> {
        self.0.iter().position(pred).map(ClusterIdx)
    }

    /// An entry for each cluster made from this one's.
    pub fn map<U>(&self, f: impl FnMut(&T) -> U) -> PerCluster<U> {
        PerCluster(self.0.iter().map(f).collect())
    }
}

impl<T> Index<ClusterIdx> for PerCluster<T> {
    type Output = T;

    fn index(&self, i: ClusterIdx) -> &T {
        &self.0[i.0]
    }
}

impl<T> IndexMut<ClusterIdx> for PerCluster<T> {
    fn index_mut(&mut self, i: ClusterIdx) -> &mut T {
        &mut self.0[i.0]
    }
}

impl<T> FromIterator<T> for PerCluster<T> {
    /// The entries in authority order, the first for [`ClusterIdx::FIRST`].
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T> From<Vec<T>> for PerCluster<T> {
    /// `v[i]` becomes the entry of the cluster at position `i` in authority order.
    fn from(v: Vec<T>) -> Self {
        Self(v)
    }
}

impl<'a, T> IntoIterator for &'a PerCluster<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> IntoIterator for PerCluster<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: ClusterIdx = ClusterIdx::new(0);
    const B: ClusterIdx = ClusterIdx::new(1);
    const C: ClusterIdx = ClusterIdx::new(2);

    #[test]
    fn entries_are_reached_by_index_in_authority_order() {
        let mut p = PerCluster::from_fn(3, |i| i.get() * 10);
        assert_eq!(p.len(), 3);
        assert!(!p.is_empty());
        assert_eq!((p[A], p[B], p[C]), (0, 10, 20));
        p[B] = 11;
        assert_eq!(p.get(B), Some(&11));
        if let Some(c) = p.get_mut(C) {
            *c = 22;
        }
        assert_eq!(p.get_mut(ClusterIdx::new(3)), None);
        assert_eq!(p.get(ClusterIdx::new(3)), None, "no such cluster");
        assert_eq!(p.iter().copied().collect::<Vec<_>>(), [0, 11, 22]);
        assert_eq!(p.indices().collect::<Vec<_>>(), [A, B, C]);
        assert_eq!(
            p.iter_indexed().map(|(i, &v)| (i, v)).collect::<Vec<_>>(),
            [(A, 0), (B, 11), (C, 22)]
        );
        for v in p.iter_mut() {
            *v += 1;
        }
        assert_eq!(p.into_iter().collect::<Vec<_>>(), [1, 12, 23]);
    }

    #[test]
    fn the_clusters_before_one_are_those_ahead_of_it() {
        let p: PerCluster<&str> = ["a", "b", "c"].into_iter().collect();
        assert_eq!(p.before(A).count(), 0, "none ahead of the authority");
        assert_eq!(p.before(C).copied().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(p.before(ClusterIdx::new(9)).count(), 3, "past the end: all");
        assert_eq!(p.position(|c| *c == "b"), Some(B));
        assert_eq!(p.position(|c| *c == "z"), None);
        assert_eq!(p.map(|c| c.len()), PerCluster::from(vec![1, 1, 1]));
        assert!(PerCluster::<u8>::default().is_empty());
    }

    #[test]
    fn an_index_shows_its_position() {
        assert_eq!(C.to_string(), "#2");
        assert!(ClusterIdx::FIRST.is_first() && !B.is_first());
        assert_eq!(ClusterIdx::FIRST, A);
        assert!(A < B && B < C, "ordered as in authority order");
        assert_eq!(ClusterIdx::range(2).collect::<Vec<_>>(), [A, B]);
    }
}
