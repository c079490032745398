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
//! There is one writer at a time (the cache serialises writers with its mutex), so writer
//! updates of shared words are a plain load and store rather than locked read-modify-write
//! instructions (readers only ever load them).
//!
//! Growth builds a new table beside the current one and publishes it with one atomic store;
//! the old table's pages go back to the kernel but stay mapped (they read as empty), and a
//! reader that missed re-checks which table is current and probes again if it changed.
//!
//! In front of the buckets sits a membership filter: one 64-bit word per bucket, in which
//! every key whose home is that bucket sets three bits chosen by other hash bits (a Bloom
//! filter blocked on one word). A lookup of an absent key is then usually decided by one
//! read of an array an eighth of the bucket array's size (about 0.8 MB per million keys,
//! which stays in the L2/L3 caches where the buckets cannot), instead of a bucket line from
//! DRAM. Removal cannot clear bits (other keys may share them), so removed keys leave stale
//! bits, which only cost false positives; once the stale keys outnumber the live ones the
//! writer rebuilds the filter from the records into the second of two filter arrays and
//! publishes it, and a reader whose "absent" came from a filter replaced meanwhile (the old
//! array's pages are released and read as zeros) re-reads the current one.

use core::sync::atomic::{fence, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

use super::mem::{empty_lanes, prefetch, prefetch_at, scan_line, scan_line_free, Line, Region};

const SLOTS: usize = 15;

/// One cache line: slots 0..15, then the overflow count.
type Bucket = Line<[AtomicU32; SLOTS + 1]>;

struct Inner {
    /// This table's generation number (its index in [`Table`]'s generations).
    gen: usize,
    buckets: Region<Bucket>,
    /// Keys allowed before growth: 7/8 of the slots.
    limit: usize,
    id_bits: u32,
    len: AtomicUsize,
    /// Membership filters, one word per bucket; `filters[fgen & 1]` is current.
    filters: [Region<AtomicU64>; 2],
    fgen: AtomicUsize,
    /// Keys removed since the current filter was built (their bits may still be set).
    stale: AtomicUsize,
}

/// Writer: replace the value of `a` by `f(value)` (load then store: single writer).
#[inline(always)]
fn bump<A: WriterAtomic>(a: &A, f: impl FnOnce(A::V) -> A::V, order: Ordering) {
    a.put(f(a.get()), order);
}

/// Writer: count one up or down.
#[inline(always)]
fn bump_len(a: &AtomicUsize, up: bool) {
    let v = a.load(Ordering::Relaxed);
    // A count of keys in memory cannot reach usize::MAX.
    a.store(
        if up {
            v.wrapping_add(1)
        } else {
            v.saturating_sub(1)
        },
        Ordering::Relaxed,
    );
}

/// The atomics a writer updates by load and store.
trait WriterAtomic {
    type V;
    fn get(&self) -> Self::V;
    fn put(&self, v: Self::V, order: Ordering);
}

impl WriterAtomic for AtomicU32 {
    type V = u32;
    #[inline(always)]
    fn get(&self) -> u32 {
        self.load(Ordering::Relaxed)
    }
    #[inline(always)]
    fn put(&self, v: u32, order: Ordering) {
        self.store(v, order);
    }
}

impl WriterAtomic for AtomicU64 {
    type V = u64;
    #[inline(always)]
    fn get(&self) -> u64 {
        self.load(Ordering::Relaxed)
    }
    #[inline(always)]
    fn put(&self, v: u64, order: Ordering) {
        self.store(v, order);
    }
}

/// The three filter bits of hash `h` (low hash bits; the bucket index uses the high ones).
#[inline]
fn filter_bits(h: u64) -> u64 {
    let lo = h as u32;
    (1u64 << ((lo >> 1) & 63)) | (1u64 << ((lo >> 7) & 63)) | (1u64 << ((lo >> 13) & 63))
}

/// The tag bits of a slot value for hash `h` in a table of `id_bits`-bit ids, with
/// `hi_mask` = `u32::MAX << (id_bits + 1)`: `Inner::value`'s `((lo >> id_bits) & !1) <<
/// id_bits` is `lo` under `hi_mask`, and the class bit (bit 0 of `h`) goes to bit `id_bits`.
#[inline(always)]
fn slot_tag(h: u64, hi_mask: u32, id_bits: u32) -> u32 {
    let lo = h as u32;
    (lo & hi_mask) | ((lo & 1) << id_bits)
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
    fn new(gen: usize, nb: usize, id_bits: u32) -> Self {
        Self {
            gen,
            buckets: Region::new(nb, 0),
            limit: nb * SLOTS * 7 / 8,
            id_bits,
            len: AtomicUsize::new(0),
            filters: [Region::new(nb, 0), Region::new(nb, 0)],
            fgen: AtomicUsize::new(0),
            stale: AtomicUsize::new(0),
        }
    }

    /// Whether the filter proves `h` absent (false: maybe present). An "absent" read from a
    /// filter that was replaced meanwhile (and may read as zeros) is re-checked.
    #[inline(always)]
    fn absent(&self, h: u64) -> bool {
        let bits = filter_bits(h);
        let i = self.home(h);
        loop {
            let g = self.fgen.load(Ordering::Acquire);
            let Some(w) = self.filters[g & 1].as_slice().get(i) else {
                return false;
            };
            if w.load(Ordering::Relaxed) & bits == bits {
                return false;
            }
            // The word read is ordered before the generation re-read (seqlock reader).
            fence(Ordering::Acquire);
            if self.fgen.load(Ordering::Relaxed) == g {
                return true;
            }
        }
    }

    /// Writer: set filter bits `bits` in word `i` of the current filter.
    #[inline]
    fn mark(&self, i: usize, bits: u64) {
        let g = self.fgen.load(Ordering::Relaxed);
        if let Some(w) = self.filters[g & 1].as_slice().get(i) {
            bump(w, |x| x | bits, Ordering::Relaxed);
        }
    }

    #[inline]
    fn nb(&self) -> usize {
        self.buckets.as_slice().len()
    }

    /// Keys allowed before growth: 7/8 of the slots.
    fn max_len(&self) -> usize {
        self.limit
    }

    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        // Multiply-shift range reduction of the upper 32 hash bits (any table size); both
        // factors are below 2^32, so the product cannot wrap.
        ((h >> 32).wrapping_mul(self.nb() as u64) >> 32) as usize
    }

    #[inline(always)]
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
        self.place_at(Spot::of(self, h), id);
    }

    /// [`Self::place`] with the key's home bucket and filter bits already computed.
    #[inline]
    fn place_at(&self, sp: Spot, id: u32) {
        let b = self.buckets.as_slice();
        let v = self.value(sp.h, id);
        let mut i = sp.home;
        // The table is below capacity, so a free slot exists within one lap.
        for _ in 0..b.len() {
            // The first empty slot (this thread is the only writer: it stays empty).
            let free = empty_lanes(&b[i]);
            if let Some(s) = b[i]
                .0
                .get(free.trailing_zeros() as usize)
                .filter(|_| free != 0)
            {
                self.mark(sp.home, sp.bits);
                // Release: the overflow counts bumped on the way (and the filter bits) are
                // visible with the slot.
                s.store(v, Ordering::Release);
                bump_len(&self.len, true);
                return;
            }
            bump(&b[i].0[SLOTS], |c| c.wrapping_add(1), Ordering::Release);
            i = next(i, b.len());
        }
    }
}

/// Where a key goes in one table generation: its hash, home bucket and filter bits, computed
/// once for a writer's duplicate check and placement (see [`Writer`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct Spot {
    h: u64,
    home: usize,
    bits: u64,
}

impl Spot {
    #[inline(always)]
    fn of(t: &Inner, h: u64) -> Self {
        Self {
            h,
            home: t.home(h),
            bits: filter_bits(h),
        }
    }
}

/// The writer's view of a table's current generation and filter. Only the writer (holding
/// the cache's writer lock) replaces either, so a view stays current until the writer
/// itself grows the table or rebuilds its filter.
#[derive(Clone, Copy)]
pub(super) struct Writer<'a> {
    t: &'a Inner,
    filter: &'a [AtomicU64],
}

impl Writer<'_> {
    /// Where `h` goes in this generation.
    #[inline(always)]
    pub(super) fn spot(&self, h: u64) -> Spot {
        Spot::of(self.t, h)
    }

    /// The first candidate of `s` that `check` accepts. The filter word decides most
    /// absent keys; no retry is needed: no other writer changes the table meanwhile.
    #[inline(always)]
    pub(super) fn find<R>(&self, s: Spot, mut check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        if let Some(w) = self.filter.get(s.home) {
            if w.load(Ordering::Relaxed) & s.bits != s.bits {
                return None;
            }
        }
        Table::probe(self.t, s.h, &mut check).0
    }

    /// Hint the CPU to fetch the home bucket and filter word of `s`.
    #[inline(always)]
    pub(super) fn prefetch(&self, s: Spot) {
        if let Some(b) = self.t.buckets.as_slice().get(s.home) {
            prefetch(b);
        }
        if let Some(w) = self.filter.get(s.home) {
            prefetch(w);
        }
    }

    /// Whether `extra` more keys with record ids below `ids` fit without a rebuild.
    #[inline]
    pub(super) fn has_room(&self, extra: usize, ids: usize) -> bool {
        self.t.len.load(Ordering::Relaxed) + extra <= self.t.max_len()
            && id_bits_for(ids) <= self.t.id_bits
    }

    /// Add `id` under the key of `s` (room ensured by the caller, `s` from this view).
    #[inline]
    pub(super) fn place(&self, s: Spot, id: u32) {
        self.t.place_at(s, id);
    }

    /// [`Self::place`] for the batch insert: the filter word set through this view (no
    /// generation re-read) and the home bucket's first free slot taken inline; a full home
    /// bucket takes the general placement.
    #[inline(always)]
    pub(super) fn place_fast(&self, s: Spot, id: u32) {
        let Some(bucket) = self.t.buckets.as_slice().get(s.home) else {
            return self.t.place_at(s, id);
        };
        let free = empty_lanes(bucket);
        if free == 0 {
            return self.t.place_at(s, id);
        }
        if let Some(w) = self.filter.get(s.home) {
            bump(w, |x| x | s.bits, Ordering::Relaxed);
        }
        if let Some(slot) = bucket.0.get(free.trailing_zeros() as usize) {
            // Release: the filter bits are visible with the slot.
            slot.store(self.t.value(s.h, id), Ordering::Release);
        }
        bump_len(&self.t.len, true);
    }
}

impl<'a> Writer<'a> {
    /// This view with its bucket array, bucket count and id width read once (see [`Lane`]).
    #[inline(always)]
    pub(super) fn lane(&self) -> Lane<'a> {
        let buckets = self.t.buckets.as_slice();
        Lane {
            t: self.t,
            buckets,
            filter: self.filter,
            nb: buckets.len() as u64,
            id_bits: self.t.id_bits,
            hi_mask: u32::MAX << (self.t.id_bits + 1),
            slot_tag_mask: u32::MAX << self.t.id_bits,
        }
    }
}

/// A writer's view of one table for the batch insert's lean kernel (`cache/lean.rs`): the
/// current generation's buckets and filter, its bucket count and id width, read once per
/// group, so a key costs a multiply for its home, a filter-word test and a slot store.
/// Valid while the writer neither grows the table nor rebuilds its filter (as [`Writer`]).
#[derive(Clone, Copy)]
pub(super) struct Lane<'a> {
    t: &'a Inner,
    buckets: &'a [Bucket],
    filter: &'a [AtomicU64],
    nb: u64,
    id_bits: u32,
    /// The hash bits a tag keeps in place: those above `id_bits + 1` (id bits <= 26).
    hi_mask: u32,
    /// A slot value's tag bits: those above `id_bits`.
    slot_tag_mask: u32,
}

impl Lane<'_> {
    /// The home bucket of `h` (as `Inner::home`).
    #[inline(always)]
    pub(super) fn home(&self, h: u64) -> usize {
        ((h >> 32).wrapping_mul(self.nb) >> 32) as usize
    }

    /// Hint the CPU to fetch home bucket `i`, the bucket after it and the filter word.
    /// The next bucket (session 13) is read when the home bucket is full (the key goes on)
    /// or keys spilled past it (the duplicate check looks there): in the bench's insert row
    /// (tables at 0.73 of their slots), 0.37 and 0.31 times per insert of 3 keys, and
    /// unhinted 70-85 % of those reads went to DRAM. (For the last bucket the line hinted
    /// is past the array: harmless.)
    #[inline(always)]
    pub(super) fn prefetch(&self, i: usize) {
        prefetch_at(self.buckets, i);
        prefetch_at(self.buckets, i + 1);
        prefetch_at(self.filter, i);
    }

    /// The filter bits of `h` (computed once per key for [`Self::absent`] and
    /// [`Self::place`]).
    #[inline(always)]
    pub(super) fn bits(h: u64) -> u64 {
        filter_bits(h)
    }

    /// Whether `h` (home `i`, filter bits `bits`) is surely absent — its filter word rules
    /// it out or, when the word says "maybe" (about 7 % of keys at full load, and every
    /// re-inserted key whose removal left its bits), the home bucket holds no slot with its
    /// tag and no key spilled past it, or else the next bucket holds none either and no
    /// key passed it; the writer's own view, so "absent" is final — and the placement's
    /// bucket read in one (session 10): when `h` is surely
    /// absent, the empty slots of its home bucket (bit `s` for slot `s`, from the same
    /// read of the line as the tag comparison when the filter word says "maybe"), for
    /// [`Self::place_free`]; None when it may be present.
    #[inline(always)]
    pub(super) fn vacancy(&self, h: u64, bits: u64, i: usize) -> Option<u32> {
        let (Some(word), Some(bucket)) = (self.filter.get(i), self.buckets.get(i)) else {
            return None;
        };
        if word.load(Ordering::Relaxed) & bits != bits {
            return Some(empty_lanes(bucket));
        }
        let tag = self.tag(h);
        let (tags, free, overflow) = scan_line_free(bucket, self.slot_tag_mask, tag);
        if tags != 0 {
            return None;
        }
        if overflow == 0 {
            return Some(free);
        }
        self.next_clear(tag, i).then_some(free)
    }

    /// Keys spilled past home bucket `i`: whether the next bucket holds no slot with `tag`
    /// and none passed it (a key that spilled sits there or, having passed it too, is
    /// counted in its overflow count; as `Snap::scan`).
    #[inline(always)]
    fn next_clear(&self, tag: u32, i: usize) -> bool {
        let Some(next) = self.buckets.get(next(i, self.buckets.len())) else {
            return false;
        };
        let (tags, overflow) = scan_line(next, self.slot_tag_mask, tag);
        tags == 0 && overflow == 0
    }

    /// [`Self::place`] of the key `h` with the home bucket's empty slots
    /// `free` from [`Self::vacancy`] (read since the last placement into that bucket):
    /// the filter bits, then the first free slot; a full home bucket takes the general
    /// placement. Returns as `place`.
    #[inline(always)]
    pub(super) fn place_free(&self, h: u64, bits: u64, i: usize, id: u32, free: u32) -> usize {
        let (Some(bucket), Some(word)) = (self.buckets.get(i), self.filter.get(i)) else {
            self.t.place(h, id);
            return 0;
        };
        let Some(slot) = bucket
            .0
            .get(free.trailing_zeros() as usize)
            .filter(|_| free != 0)
        else {
            self.spill(h, bits, i, id);
            return 0;
        };
        bump(word, |x| x | bits, Ordering::Relaxed);
        // Release: the filter bits (and the record the id names) are visible with the slot.
        // (`id` < 2^26: no wrap.)
        slot.store(self.tag(h) | id.wrapping_add(1), Ordering::Release);
        1
    }

    /// The tag bits of `h`'s slot value (above the id bits; see [`slot_tag`]).
    #[inline(always)]
    pub(super) fn tag(&self, h: u64) -> u32 {
        slot_tag(h, self.hi_mask, self.id_bits)
    }

    /// Add `id` under `h` whose home is `i` and filter bits `bits`: the filter bits, then
    /// the first free slot of the home bucket; a full home bucket takes the general
    /// placement (overflow counts). Returns 1 when the key went into its home bucket (the
    /// caller adds those to the table's length once per group, see [`Self::add_len`]), 0
    /// when the general placement (which counts it itself) took it. Room ensured by the
    /// caller.
    #[inline(always)]
    pub(super) fn place(&self, h: u64, bits: u64, i: usize, id: u32) -> usize {
        // [`Self::place_free`] with the bucket's empty slots read now (0 for a bucket out of
        // range, which `place_free` hands to the general placement before reading `free`).
        let free = self.buckets.get(i).map_or(0, empty_lanes);
        self.place_free(h, bits, i, id, free)
    }

    /// [`Self::place`] of a key whose home bucket is full (out of line: rare).
    #[cold]
    #[inline(never)]
    fn spill(&self, h: u64, bits: u64, i: usize, id: u32) {
        self.t.place_at(Spot { h, home: i, bits }, id);
    }

    /// Writer: count `n` keys placed by [`Self::place`] into this table's length.
    #[inline(always)]
    pub(super) fn add_len(&self, n: usize) {
        let v = self.t.len.load(Ordering::Relaxed);
        self.t.len.store(v.wrapping_add(n), Ordering::Relaxed);
    }
}

/// What the filter word and the home bucket say about a key (short probe).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probe {
    /// Not in the table (final if the generations did not change, see [`Table::unchanged`]).
    Absent,
    /// The first slot of the home bucket with the key's tag: the record to check.
    Candidate(u32),
    /// Anything else (the key may sit in a following bucket): take the general probe.
    Unsure,
}

/// One table generation as a reader sees it (see [`Table::snap`]).
pub(super) struct Snap<'a> {
    t: &'a Inner,
    g: usize,
    fg: usize,
    filter: &'a [AtomicU64],
    buckets: &'a [Bucket],
    id_bits: u32,
    /// As [`Lane`]'s: the hash bits a tag keeps in place, and a slot value's tag bits.
    hi_mask: u32,
    slot_tag_mask: u32,
}

impl Snap<'_> {
    /// The home bucket of `h` (as `Inner::home`); the stage methods below take it.
    #[inline(always)]
    pub(super) fn home(&self, h: u64) -> usize {
        ((h >> 32).wrapping_mul(self.buckets.len() as u64) >> 32) as usize
    }

    /// Hint the CPU to fetch filter word `i` (first stage of a batch; `i` from
    /// [`Self::home`], no bounds check: see `mem::prefetch_at`).
    #[inline(always)]
    pub(super) fn prefetch_filter(&self, i: usize) {
        prefetch_at(self.filter, i);
    }

    /// Whether filter word `i` lets `h` be present (an empty word of a released array says
    /// absent: callers confirm with [`Table::unchanged`]).
    #[inline(always)]
    pub(super) fn maybe(&self, h: u64, i: usize) -> bool {
        let bits = filter_bits(h);
        self.filter
            .get(i)
            .is_some_and(|w| w.load(Ordering::Relaxed) & bits == bits)
    }

    /// Hint the CPU to fetch bucket `i` (second stage of a batch; no bounds check, as
    /// [`Self::prefetch_filter`]).
    #[inline(always)]
    pub(super) fn prefetch_bucket(&self, i: usize) {
        prefetch_at(self.buckets, i);
    }

    /// The filter word, then the home bucket of `h`.
    #[inline(always)]
    pub(super) fn first(&self, h: u64) -> Probe {
        let i = self.home(h);
        if !self.maybe(h, i) {
            return Probe::Absent;
        }
        self.scan(h, i)
    }

    /// Home bucket `i` of `h` and, if keys spilled past it, the next one (the filter
    /// already consulted).
    #[inline(always)]
    pub(super) fn scan(&self, h: u64, i: usize) -> Probe {
        let id_mask = !self.slot_tag_mask;
        let tag = slot_tag(h, self.hi_mask, self.id_bits);
        // The home bucket, then (a key that spilled past it usually sits there) the next.
        let mut i = i;
        for _ in 0..2 {
            let Some(bucket) = self.buckets.get(i) else {
                return Probe::Unsure;
            };
            let (bits, overflow) = scan_line(bucket, self.slot_tag_mask, tag);
            if bits != 0 {
                // Re-read the lane as an atomic (acquire: the record it names is published).
                let v = bucket.0[bits.trailing_zeros() as usize].load(Ordering::Acquire);
                return if v != 0 && v & self.slot_tag_mask == tag {
                    Probe::Candidate((v & id_mask) - 1)
                } else {
                    Probe::Unsure
                };
            }
            if overflow == 0 {
                return Probe::Absent;
            }
            i = next(i, self.buckets.len());
        }
        Probe::Unsure
    }
}

const CHUNK: usize = 64;

/// Table generations: growth is by 3/2 and a rebuild also widens ids, so a few dozen
/// generations cover 2^26 keys; 64 × 64 leaves ample room.
pub(super) struct Table {
    gens: [OnceLock<Box<[OnceLock<Inner>]>>; CHUNK],
    cur: AtomicUsize,
    /// The generation `cur` names (stored just before `cur`), so that a reader reaches it
    /// with one load instead of walking `gens`. It points into a boxed chunk of `gens`,
    /// whose entries are set once and live as long as the table.
    cur_inner: AtomicPtr<Inner>,
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
            cur_inner: AtomicPtr::new(core::ptr::null_mut()),
        };
        t.publish(Inner::new(0, 2, 16));
        t
    }

    /// Writer: store `inner` as generation `inner.gen` and make it the current one
    /// (`cur_inner`, then `cur`). False (nothing changed) when the generations are used up
    /// or that generation exists.
    fn publish(&self, inner: Inner) -> bool {
        let g = inner.gen;
        let Some(chunk) = self.gens.get(g / CHUNK) else {
            return false;
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        let Some(cell) = chunk.get(g % CHUNK) else {
            return false;
        };
        if cell.set(inner).is_err() {
            return false;
        }
        let Some(t) = cell.get() else {
            return false;
        };
        self.cur_inner
            .store(core::ptr::from_ref(t).cast_mut(), Ordering::Release);
        self.cur.store(g, Ordering::Release);
        true
    }

    /// The current generation: its number and table (one load: see `cur_inner`).
    #[inline(always)]
    #[allow(unsafe_code)]
    fn current(&self) -> Option<(usize, &Inner)> {
        let p = self.cur_inner.load(Ordering::Acquire);
        // SAFETY: `p` is null or was stored by `publish` from a reference to an `Inner` in a
        // `OnceLock` of a boxed chunk of `self.gens`; a set `OnceLock` is never cleared or
        // moved and the box is freed only when `self` drops, so the `Inner` outlives the
        // borrow of `self`, and it is only ever accessed through shared references. The
        // Acquire load pairs with the Release store in `publish`, which follows the
        // `OnceLock`'s initialisation.
        let t = unsafe { p.as_ref() }?;
        Some((t.gen, t))
    }

    /// Probe for `h`: call `check` on each candidate id until it returns Some. A candidate
    /// that fails its check (a false tag match, or a record a writer just replaced or freed)
    /// makes a miss re-probe, as does a miss in a table replaced meanwhile.
    ///
    /// Lookups try [`Snap::first`] inline first (filter word and home bucket: the common
    /// cases) and come here for the rest, out of line, which keeps each lookup small enough
    /// that several fit in the CPU's out-of-order window.
    #[inline(always)]
    pub(super) fn find<R>(&self, h: u64, mut check: impl FnMut(u32) -> Option<R>) -> Option<R> {
        let mut stale_budget = 4;
        loop {
            let (g, t) = self.current()?;
            if t.absent(h) {
                if self.cur.load(Ordering::Acquire) != g {
                    continue;
                }
                return None;
            }
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

    #[inline(always)]
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

    /// The current table and filter generations, for a reader that probes several keys
    /// in stages (batch lookups) or one key on the short path.
    #[inline(always)]
    pub(super) fn snap(&self) -> Option<Snap<'_>> {
        let (g, t) = self.current()?;
        let fg = t.fgen.load(Ordering::Acquire);
        Some(Snap {
            t,
            g,
            fg,
            filter: t.filters[fg & 1].as_slice(),
            buckets: t.buckets.as_slice(),
            id_bits: t.id_bits,
            hi_mask: u32::MAX << (t.id_bits + 1),
            slot_tag_mask: u32::MAX << t.id_bits,
        })
    }

    /// Whether the generations `s` was taken at are still current: then every "absent"
    /// read through `s` is final (seqlock reader: the reads are ordered before this check).
    #[inline(always)]
    pub(super) fn unchanged(&self, s: &Snap<'_>) -> bool {
        fence(Ordering::Acquire);
        self.cur.load(Ordering::Relaxed) == s.g && s.t.fgen.load(Ordering::Relaxed) == s.fg
    }

    /// Hint the CPU to fetch the home bucket of `h` and its filter word (batch lookups,
    /// writers).
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        if let Some((_, t)) = self.current() {
            let i = t.home(h);
            if let Some(b) = t.buckets.as_slice().get(i) {
                prefetch(b);
            }
            let g = t.fgen.load(Ordering::Relaxed);
            if let Some(w) = t.filters[g & 1].as_slice().get(i) {
                prefetch(w);
            }
        }
    }

    /// Writer: whether the filter holds more stale keys than it should (more than the live
    /// keys, and enough that a rebuild, which reads all `ids` records, stays cheap per
    /// removal).
    pub(super) fn filter_stale(&self, ids: usize) -> bool {
        self.current().is_some_and(|(_, t)| {
            let stale = t.stale.load(Ordering::Relaxed);
            stale > t.len.load(Ordering::Relaxed).max(ids / 16).max(64)
        })
    }

    /// Writer: rebuild the filter from the hashes of every key in the table (nothing else
    /// may write the table meanwhile), then publish it and release the old one.
    pub(super) fn refresh_filter(&self, hashes: impl Iterator<Item = u64>) {
        let Some((_, t)) = self.current() else {
            return;
        };
        let g = t.fgen.load(Ordering::Relaxed);
        let next = &t.filters[(g + 1) & 1];
        // It may hold the bits of two generations ago: start from zeros. Readers still on
        // that generation re-check theirs before trusting an "absent".
        next.release();
        fence(Ordering::SeqCst);
        let words = next.as_slice();
        for h in hashes {
            if let Some(w) = words.get(t.home(h)) {
                bump(w, |x| x | filter_bits(h), Ordering::Relaxed);
            }
        }
        t.fgen.store(g + 1, Ordering::Release);
        t.stale.store(0, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        t.filters[g & 1].release();
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
        let new = Inner::new(g + 1, nb, id_bits_for(ids).max(old.id_bits));
        for (h, id) in entries {
            new.place(h, id);
        }
        if !self.publish(new) {
            return false;
        }
        old.buckets.release();
        old.filters.iter().for_each(Region::release);
        true
    }

    /// Writer: the current generation and filter (see [`Writer`]).
    #[inline]
    pub(super) fn writer(&self) -> Option<Writer<'_>> {
        let (_, t) = self.current()?;
        let g = t.fgen.load(Ordering::Relaxed);
        Some(Writer {
            t,
            filter: t.filters[g & 1].as_slice(),
        })
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
            bump(&b[j].0[SLOTS], |c| c.wrapping_sub(1), Ordering::Release);
            j = next(j, b.len());
        }
        bump_len(&t.len, false);
        bump_len(&t.stale, true);
        true
    }

    /// How many times the current table's filter was rebuilt (tests).
    #[cfg(test)]
    pub(super) fn filter_generation(&self) -> usize {
        self.current()
            .map_or(0, |(_, t)| t.fgen.load(Ordering::Relaxed))
    }

    /// Keys in the current table.
    pub(super) fn len(&self) -> usize {
        self.current()
            .map_or(0, |(_, t)| t.len.load(Ordering::Relaxed))
    }
}
