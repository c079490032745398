//! A compact index: key hash → record id; one writer, lock-free readers.
//!
//! Buckets are one cache line each: 15 four-octet slots and an overflow count. A slot holds
//! `tag << id_bits | (id + 1)` (0 = empty), the tag being hash bits the bucket index did not
//! use, so a probe compares tags within one line and reads a record only on a tag match (a
//! false match, 1 in 2^(32 - id_bits) per occupied slot, costs one record read). Keys are
//! not stored: the caller checks the record it reaches. A key lives in its home bucket or,
//! when that is full, in a following one; every bucket it passed counts it in its overflow
//! count ("keep probing", as in F14), so a miss usually reads one line, and removal needs
//! neither tombstones nor moves: readers never see a present key move.
//!
//! The lowest tag bit is a caller-chosen class bit (bit 0 of the hash given here), so two
//! keys of one record in one table (the inbound table's UDP/plain and SPI keys) never share
//! a slot value; the cache never has two keys of one class for one record in one table
//! (updates write a new record), which makes every slot value unique and removal exact.
//!
//! Growth builds a new table beside the current one and publishes it with one atomic store;
//! the old table's pages go back to the kernel but stay mapped (they read as empty), and a
//! reader that missed re-checks which table is current and probes again if it changed.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::mem::{prefetch, scan_line, Line, Region};

const SLOTS: usize = 15;

/// One cache line: slots 0..15, then the overflow count.
type Bucket = Line<[AtomicU32; SLOTS + 1]>;

struct Inner {
    buckets: Region<Bucket>,
    id_bits: u32,
    len: AtomicUsize,
}

#[inline]
fn next(i: usize, n: usize) -> usize {
    if i + 1 == n {
        0
    } else {
        i + 1
    }
}

impl Inner {
    fn new(nb: usize, id_bits: u32) -> Self {
        Self {
            buckets: Region::new(nb, 0),
            id_bits,
            len: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn nb(&self) -> usize {
        self.buckets.as_slice().len()
    }

    /// Keys allowed before growth: 7/8 of the slots.
    fn max_len(&self) -> usize {
        self.nb() * SLOTS * 7 / 8
    }

    #[inline]
    fn home(&self, h: u64) -> usize {
        // Multiply-shift range reduction of the upper 32 hash bits (any table size).
        (((h >> 32) * self.nb() as u64) >> 32) as usize
    }

    #[inline]
    fn value(&self, h: u64, id: u32) -> u32 {
        let lo = h as u32;
        let tag = ((lo >> self.id_bits) & !1) | (lo & 1);
        (tag << self.id_bits) | (id + 1)
    }

    /// The position of the slot holding `v` on the probe path of `h`.
    fn position(&self, h: u64, v: u32) -> Option<(usize, usize)> {
        let b = self.buckets.as_slice();
        let mut i = self.home(h);
        for _ in 0..b.len() {
            if let Some(s) = b[i].0[..SLOTS]
                .iter()
                .position(|s| s.load(Ordering::Relaxed) == v)
            {
                return Some((i, s));
            }
            if b[i].0[SLOTS].load(Ordering::Relaxed) == 0 {
                return None;
            }
            i = next(i, b.len());
        }
        None
    }

    fn place(&self, h: u64, id: u32) {
        let b = self.buckets.as_slice();
        let v = self.value(h, id);
        let mut i = self.home(h);
        // The table is below capacity, so a free slot exists within one lap.
        for _ in 0..b.len() {
            if let Some(s) = b[i].0[..SLOTS]
                .iter()
                .find(|s| s.load(Ordering::Relaxed) == 0)
            {
                // Release: the overflow counts bumped on the way are visible with the slot.
                s.store(v, Ordering::Release);
                self.len.fetch_add(1, Ordering::Relaxed);
                return;
            }
            b[i].0[SLOTS].fetch_add(1, Ordering::Release);
            i = next(i, b.len());
        }
    }
}

const CHUNK: usize = 64;

/// Table generations: growth is by 3/2 and a rebuild also widens ids, so a few dozen
/// generations cover 2^26 keys; 64 × 64 leaves ample room.
pub(super) struct Table {
    gens: [OnceLock<Box<[OnceLock<Inner>]>>; CHUNK],
    cur: AtomicUsize,
}

/// Record-id bits for `n` ids: at least 16, enough for `n` ids plus the empty mark.
pub(super) fn id_bits_for(n: usize) -> u32 {
    (usize::BITS - (n + 1).leading_zeros()).clamp(16, 26)
}

impl Table {
    pub(super) fn new() -> Self {
        let t = Self {
            gens: [const { OnceLock::new() }; CHUNK],
            cur: AtomicUsize::new(0),
        };
        t.set_gen(0, Inner::new(2, 16));
        t
    }

    fn set_gen(&self, g: usize, inner: Inner) -> bool {
        let Some(chunk) = self.gens.get(g / CHUNK) else {
            return false;
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        chunk[g % CHUNK].set(inner).is_ok()
    }

    #[inline]
    fn gen(&self, g: usize) -> Option<&Inner> {
        self.gens.get(g / CHUNK)?.get()?.get(g % CHUNK)?.get()
    }

    #[inline]
    fn current(&self) -> Option<(usize, &Inner)> {
        let g = self.cur.load(Ordering::Acquire);
        Some((g, self.gen(g)?))
    }

    /// Probe for `h`: call `check` on each candidate id until it returns Some. A candidate
    /// that fails its check (a false tag match, or a record a writer just replaced or freed)
    /// makes a miss re-probe, as does a miss in a table replaced meanwhile.
    #[inline]
    pub(super) fn find<R>(&self, h: u64, mut check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        let mut stale_budget = 4;
        loop {
            let (g, t) = self.current()?;
            let (hit, saw_candidate) = Self::probe(t, h, &mut check);
            if hit.is_some() {
                return hit;
            }
            if self.cur.load(Ordering::Acquire) != g {
                continue;
            }
            if !saw_candidate || stale_budget == 0 {
                return None;
            }
            stale_budget -= 1;
        }
    }

    #[inline]
    fn probe<R>(t: &Inner, h: u64, check: &mut impl FnMut(u32) -> Option<R>) -> (Option<R>, bool) {
        let b = t.buckets.as_slice();
        let id_mask = (1u32 << t.id_bits) - 1;
        let tag = t.value(h, 0) & !id_mask;
        let mut saw = false;
        let mut i = t.home(h);
        for _ in 0..b.len() {
            let Some(bucket) = b.get(i) else {
                break;
            };
            let (mut bits, overflow) = scan_line(bucket, !id_mask, tag);
            while bits != 0 {
                let j = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // Re-read the lane as an atomic (acquire: the record it names is published).
                let v = bucket.0[j].load(Ordering::Acquire);
                if v != 0 && v & !id_mask == tag {
                    if let Some(r) = check((v & id_mask) - 1) {
                        return (Some(r), saw);
                    }
                    saw = true;
                }
            }
            if overflow == 0 {
                break;
            }
            i = next(i, b.len());
        }
        (None, saw)
    }

    /// Hint the CPU to fetch the home bucket of `h` (batch lookups).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        if let Some((_, t)) = self.current() {
            if let Some(b) = t.buckets.as_slice().get(t.home(h)) {
                prefetch(b);
            }
        }
    }

    /// Writer: whether adding `extra` keys with record ids below `ids` needs a rebuild.
    pub(super) fn needs_rebuild(&self, extra: usize, ids: usize) -> bool {
        match self.current() {
            Some((_, t)) => {
                t.len.load(Ordering::Relaxed) + extra > t.max_len() || id_bits_for(ids) > t.id_bits
            }
            None => true,
        }
    }

    /// Writer: build a table with room for `want` keys and ids below `ids` from `entries`
    /// (hash, id), publish it and release the old one. False (nothing changed) when the
    /// generations are used up, which 2^26 records cannot reach.
    pub(super) fn rebuild(
        &self,
        want: usize,
        ids: usize,
        entries: impl Iterator<Item = (u64, u32)>,
    ) -> bool {
        let Some((g, old)) = self.current() else {
            return false;
        };
        let mut nb = old.nb();
        while nb * SLOTS * 7 / 8 < want {
            nb = nb * 3 / 2 + 1;
        }
        let new = Inner::new(nb, id_bits_for(ids).max(old.id_bits));
        for (h, id) in entries {
            new.place(h, id);
        }
        if !self.set_gen(g + 1, new) {
            return false;
        }
        self.cur.store(g + 1, Ordering::Release);
        old.buckets.release();
        true
    }

    /// Writer: add `id` under `h` (room ensured by the caller).
    pub(super) fn insert(&self, h: u64, id: u32) {
        if let Some((_, t)) = self.current() {
            t.place(h, id);
        }
    }

    /// Writer: point the slot of (`h`, `old`) at `new` in place (one atomic store, so readers
    /// find the key throughout). False if absent.
    pub(super) fn replace(&self, h: u64, old: u32, new: u32) -> bool {
        let Some((_, t)) = self.current() else {
            return false;
        };
        let Some((i, s)) = t.position(h, t.value(h, old)) else {
            return false;
        };
        t.buckets.as_slice()[i].0[s].store(t.value(h, new), Ordering::Release);
        true
    }

    /// Writer: remove the slot of (`h`, `id`); false if absent.
    pub(super) fn remove(&self, h: u64, id: u32) -> bool {
        let Some((_, t)) = self.current() else {
            return false;
        };
        let Some((i, s)) = t.position(h, t.value(h, id)) else {
            return false;
        };
        let b = t.buckets.as_slice();
        b[i].0[s].store(0, Ordering::Release);
        // Undo the overflow counts the key left on its way from home.
        let mut j = t.home(h);
        while j != i {
            b[j].0[SLOTS].fetch_sub(1, Ordering::Release);
            j = next(j, b.len());
        }
        t.len.fetch_sub(1, Ordering::Relaxed);
        true
    }

    /// Keys in the current table.
    pub(super) fn len(&self) -> usize {
        self.current()
            .map_or(0, |(_, t)| t.len.load(Ordering::Relaxed))
    }
}
