//! A frame as shared bytes with a few ranges replaced. Each cluster's copy of one Produce
//! frame differs from the others only in its batches' producer fields and checksums, so the
//! copies share every other byte, and the writer sends the pieces with one vectored write.

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::IoSlice;

/// `base` with the ranges `patches` cover replaced by their bytes.
#[derive(Debug, Clone)]
pub struct PatchedFrame {
    base: Bytes,
    /// In order of position, none overlapping another: where each starts in `base`, and the
    /// bytes that replace as many of `base`'s.
    patches: Vec<(usize, Bytes)>,
}

impl From<Bytes> for PatchedFrame {
    fn from(base: Bytes) -> Self {
        Self {
            base,
            patches: Vec::new(),
        }
    }
}

impl PatchedFrame {
    /// `base` with `patches` (by position, not overlapping, each inside `base`) applied; a
    /// patch out of order or out of bounds is a bug in the caller and is dropped.
    pub fn new(base: Bytes, patches: Vec<(usize, Bytes)>) -> Self {
        let mut end = 0;
        let patches = patches
            .into_iter()
            .filter(|(at, b)| {
                let fits = *at >= end && at + b.len() <= base.len();
                debug_assert!(fits, "patch at {at} out of order or bounds");
                if fits {
                    end = at + b.len();
                }
                fits
            })
            .collect();
        Self { base, patches }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.base.len()
    }

    /// Whether the frame is empty.
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    /// The first `n` bytes (headers are never patched, so these are the base's).
    pub fn head(&self, n: usize) -> &[u8] {
        &self.base[..n.min(self.base.len())]
    }

    /// The frame from byte `from` on, as pieces to write one after another.
    pub fn pieces_from(&self, from: usize) -> Pieces {
        let mut parts = VecDeque::with_capacity(self.patches.len() * 2 + 1);
        let mut at = from.min(self.base.len());
        for (p, bytes) in &self.patches {
            if p + bytes.len() <= at {
                continue;
            }
            if *p < at {
                parts.push_back(bytes.slice(at - p..));
            } else {
                parts.push_back(self.base.slice(at..*p));
                parts.push_back(bytes.clone());
            }
            at = p + bytes.len();
        }
        parts.push_back(self.base.slice(at..));
        parts.retain(|b| !b.is_empty());
        let remaining = parts.iter().map(Bytes::len).sum();
        Pieces { parts, remaining }
    }
}

/// Bytes to write, piece after piece (a [`Buf`] whose vectored chunks are the pieces).
#[derive(Debug, Default)]
pub struct Pieces {
    parts: VecDeque<Bytes>,
    remaining: usize,
}

impl Pieces {
    /// `head` followed by `rest`.
    pub fn after(head: Bytes, mut rest: Pieces) -> Self {
        if !head.is_empty() {
            rest.remaining += head.len();
            rest.parts.push_front(head);
        }
        rest
    }

    /// Adds `bytes` at the end.
    pub fn push(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.remaining += bytes.len();
            self.parts.push_back(bytes);
        }
    }

    /// Adds `more`'s pieces at the end.
    pub fn append(&mut self, mut more: Pieces) {
        self.remaining += more.remaining;
        self.parts.append(&mut more.parts);
    }
}

impl Buf for Pieces {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| &b[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        cnt = cnt.min(self.remaining);
        self.remaining -= cnt;
        while cnt > 0 {
            let Some(front) = self.parts.front_mut() else {
                return;
            };
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(mut p: Pieces) -> Vec<u8> {
        let mut out = Vec::new();
        while p.has_remaining() {
            let c = p.chunk().to_vec();
            out.extend(&c);
            p.advance(c.len());
        }
        out
    }

    #[test]
    fn pieces_are_the_base_with_the_patches_applied() {
        let base = Bytes::from_static(b"0123456789abcdef");
        let f = PatchedFrame::new(
            base,
            vec![
                (2, Bytes::from_static(b"XY")),
                (10, Bytes::from_static(b"Z")),
                (15, Bytes::from_static(b"W")),
            ],
        );
        assert_eq!(flat(f.pieces_from(0)), b"01XY456789ZbcdeW");
        assert_eq!(flat(f.pieces_from(3)), b"Y456789ZbcdeW");
        assert_eq!(flat(f.pieces_from(16)), b"");
        let with_head = Pieces::after(Bytes::from_static(b"hd"), f.pieces_from(12));
        assert_eq!(with_head.remaining(), 6);
        assert_eq!(flat(with_head), b"hdcdeW");
    }

    #[test]
    fn advancing_across_pieces_keeps_the_rest_in_order() {
        let f = PatchedFrame::new(
            Bytes::from_static(b"aaaabbbb"),
            vec![(4, Bytes::from_static(b"XX"))],
        );
        let mut p = f.pieces_from(0);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(p.chunks_vectored(&mut slices), 3);
        p.advance(5);
        assert_eq!(p.remaining(), 3);
        assert_eq!(flat(p), b"Xbb");
    }
}
