//! Operation-shaped floors for the binding cache (session 9): the memory traffic of one
//! operation and nothing else, on arrays sized and paged like the cache's, driven by the
//! same keys. Used by the criterion bench (`benches/cache.rs`, group `machine_floor`) and
//! by `examples/cache_ops.rs` (operations `floor_insert`, `floor_hit`).
//!
//! * [`InsertShaped`]: per binding, exactly the lines one lean batch insert touches (see
//!   `src/cache/lean.rs`), in groups of 16 as the kernel: its 3 keys (/64 prefix, IPv4 HoA,
//!   inbound plain; since session 12 a /64 binding has no HoA key: its exact-HoA lookups go
//!   through the /64 index) hashed as the cache hashes them (same fold, own seeds), each key's
//!   home line and filter word prefetched with the record and counters lines of the group,
//!   then per binding one read-modify-write of the home line in each of three index-sized
//!   arrays (2 MiB pages, as many buckets as the cache's indexes hold at that size), one
//!   word read-modify-write in each of three filter-sized arrays (4 KiB pages), a 64-octet
//!   record write and a counters write at consecutive ids. No duplicate check, no lock, no
//!   encoding, no lengths. (Sessions 9-11: four keys, the HoA's own index line and filter
//!   word included.)
//! * [`HitShaped`]: per key, in batches of 32, the index line prefetched, then read (the
//!   slot with the key's tag names its record), then the record line prefetched, then read:
//!   two dependent levels, 32 keys in flight. No filter word, no version check, no decoding.

use std::hint::black_box;
use std::net::Ipv6Addr;

use dsmip6_dataplane::cache::{Binding, CareOf};

/// A zeroed array of `lines` 64-octet lines in its own anonymous mapping, 2 MiB-aligned and
/// advised onto transparent huge pages (as the cache's large arrays) or not.
pub struct Lines {
    ptr: *mut u64,
    map: *mut libc::c_void,
    map_len: usize,
    lines: usize,
}

impl Lines {
    /// `huge`: advise huge pages (else 4 KiB pages, as the cache's arrays below 2 MiB).
    pub fn new(lines: usize, huge: bool) -> Self {
        Self::map(lines, huge, (lines * 64).next_multiple_of(2 << 20))
    }

    /// As the cache's `mem::Region` maps `lines` lines: the size rounded to 4 KiB pages
    /// only, so that only the whole 2 MiB pages of an array of 2 MiB or more are huge (its
    /// tail keeps 4 KiB pages), and smaller arrays have 4 KiB pages.
    pub fn like_region(lines: usize) -> Self {
        let bytes = (lines * 64).next_multiple_of(4096);
        Self::map(lines, bytes >= 2 << 20, bytes)
    }

    fn map(lines: usize, huge: bool, bytes: usize) -> Self {
        const HUGE: usize = 2 << 20;
        let map_len = bytes + HUGE;
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(map != libc::MAP_FAILED, "mmap failed");
        let off = (HUGE - map as usize % HUGE) % HUGE;
        // SAFETY: `off + bytes <= map_len`: inside the mapping.
        let ptr = unsafe { map.cast::<u8>().add(off) };
        let advice = if huge {
            libc::MADV_HUGEPAGE
        } else {
            libc::MADV_NOHUGEPAGE
        };
        // SAFETY: advice on a range of our own mapping; contents unchanged.
        unsafe { libc::madvise(ptr.cast(), bytes, advice) };
        Self {
            ptr: ptr.cast(),
            map,
            map_len,
            lines,
        }
    }

    pub fn words(&mut self) -> &mut [u64] {
        // SAFETY: the mapping holds `lines * 8` zero-initialised, 2 MiB-aligned u64s, lives
        // as long as `self`, and is reached only through this exclusive borrow.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.lines * 8) }
    }

    /// The lines as 4-octet slots (16 per line, as an index bucket).
    fn slots(&mut self) -> &mut [u32] {
        // SAFETY: as `words`: `lines * 16` u32s in the same exclusively borrowed mapping
        // (u64 alignment satisfies u32's).
        unsafe { core::slice::from_raw_parts_mut(self.ptr.cast::<u32>(), self.lines * 16) }
    }

    /// Touch every page (so that page faults stay out of the timed part, as in the cache,
    /// whose arrays are full).
    fn fault_in(&mut self) {
        for w in self.words().iter_mut().step_by(512) {
            *w = 0;
        }
    }

    /// Link the lines into one random cycle (Sattolo's shuffle): word 0 of each line holds
    /// the index of the next line, so a chase touches every line in a random order.
    pub fn link_random_cycle(&mut self) {
        let n = self.lines;
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for i in (1..n).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let j = (x % i as u64) as usize;
            order.swap(i, j);
        }
        let w = self.words();
        for i in 0..n {
            w[order[i] as usize * 8] = u64::from(order[(i + 1) % n]);
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly our mapping; no borrow of it outlives `self`.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

/// Hint the CPU to fetch the line holding `p` (never faults, whatever the address).
#[inline(always)]
fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is only a hint: it never faults and changes no program state.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p.cast::<i8>(), core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The cache's bucket count for `keys` keys: growth by 3/2 from 2 buckets until 7/8 of
/// the 15-slot buckets hold them (as `table::Table::rebuild`).
#[must_use]
pub fn buckets_for(keys: usize) -> usize {
    let mut nb = 2usize;
    while nb * 15 * 7 / 8 < keys {
        nb = nb * 3 / 2 + 1;
    }
    nb
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The cache's key hash (`BindingCache::hash`: the same fold and key words), own seeds.
#[derive(Clone, Copy)]
struct Hasher([u64; 3]);

const HASHER: Hasher = Hasher([
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7344,
    0xa409_3822_299f_31d1,
]);

impl Hasher {
    #[inline(always)]
    fn hash(self, a: u64, b: u64, c: u64) -> u64 {
        fold(fold(a ^ self.0[0], b ^ self.0[1]) ^ c, self.0[2])
    }

    /// The /64 prefix key of HoA `v` (an exact-HoA lookup of a /64 binding probes the /64
    /// index with it).
    #[inline(always)]
    fn p64(self, v: u128) -> u64 {
        self.hash((v >> 64) as u64, 0, 64)
    }

    /// The /64 prefix, IPv4 HoA and inbound plain keys of `b` (the bench's bindings: /64,
    /// so no HoA key).
    #[inline(always)]
    fn keys(self, b: &Binding) -> [u64; KEYS] {
        let hoa = u128::from(b.home_address);
        let v4 = b.ipv4_home_address.map_or(0, u32::from);
        let coa = match b.care_of {
            CareOf::V6(a) => u128::from(a),
            CareOf::V4 { addr, .. } => u128::from(addr.to_ipv6_mapped()),
        };
        [
            self.p64(hoa),
            self.hash(u64::from(v4), 0, 1 << 40),
            self.hash((coa >> 64) as u64, coa as u64, 0) & !1,
        ]
    }
}

/// Home bucket of `h` among `nb` (the cache's multiply-shift of the upper 32 bits).
#[inline(always)]
fn home(h: u64, nb: u64) -> usize {
    ((h >> 32).wrapping_mul(nb) >> 32) as usize
}

/// The three filter bits of `h` (as the cache's).
#[inline(always)]
fn filter_bits(h: u64) -> u64 {
    let lo = h as u32;
    (1u64 << ((lo >> 1) & 63)) | (1u64 << ((lo >> 7) & 63)) | (1u64 << ((lo >> 13) & 63))
}

/// Bindings per group (the kernel's `INSERT_AHEAD`).
const GROUP: usize = 16;

/// Index keys per binding of the bench (see the module text).
const KEYS: usize = 3;

/// See the module text.
pub struct InsertShaped {
    idx: [Lines; KEYS],
    filt: [Lines; KEYS],
    recs: Lines,
    ctrs: Lines,
    nb: u64,
}

impl InsertShaped {
    /// Arrays as the cache's with `keys` keys per index and `ids` records.
    #[must_use]
    pub fn new(keys: usize, ids: usize) -> Self {
        let nb = buckets_for(keys);
        let mut s = Self {
            idx: [(); KEYS].map(|()| Lines::like_region(nb)),
            // One 8-octet word per bucket (8 per line).
            filt: [(); KEYS].map(|()| Lines::like_region(nb.div_ceil(8))),
            recs: Lines::new(ids, true),
            // 32-octet counters: two per line.
            ctrs: Lines::new(ids.div_ceil(2), true),
            nb: nb as u64,
        };
        for a in s.idx.iter_mut().chain(&mut s.filt) {
            a.fault_in();
        }
        s.recs.fault_in();
        s.ctrs.fault_in();
        s
    }

    /// The traffic of inserting `bs` with record ids `first..` (see the module text).
    pub fn insert(&mut self, bs: &[Binding], first: usize) {
        let nb = self.nb;
        let idx = self.idx.each_mut().map(Lines::words);
        let filt = self.filt.each_mut().map(Lines::words);
        let recs = self.recs.words();
        let ctrs = self.ctrs.words();
        let mut id = first;
        for g in bs.chunks(GROUP) {
            let mut hs = [[0u64; KEYS]; GROUP];
            let mut homes = [[0usize; KEYS]; GROUP];
            for (j, b) in g.iter().enumerate() {
                hs[j] = HASHER.keys(b);
                for t in 0..KEYS {
                    let i = home(hs[j][t], nb);
                    homes[j][t] = i;
                    prefetch(idx[t].as_ptr().wrapping_add(i * 8));
                    prefetch(filt[t].as_ptr().wrapping_add(i));
                }
                prefetch(recs.as_ptr().wrapping_add((id + j) * 8));
                prefetch(ctrs.as_ptr().wrapping_add((id + j) * 4));
            }
            for j in 0..g.len() {
                for t in 0..KEYS {
                    let (h, i) = (hs[j][t], homes[j][t]);
                    // One slot of the home line read and rewritten (the line is fetched
                    // whole); undone by `undo` as a removal clears it.
                    let w = &mut idx[t][i * 8 + (h as usize >> 8 & 7)];
                    *w ^= h | 1;
                    filt[t][i] |= filter_bits(h);
                }
                let r = &mut recs[(id + j) * 8..(id + j) * 8 + 8];
                for (k, w) in r.iter_mut().enumerate() {
                    *w = hs[j][k % KEYS] ^ k as u64;
                }
                ctrs[(id + j) * 4..(id + j) * 4 + 4].fill(0);
            }
            id += g.len();
        }
        black_box((&idx, &filt, &recs, &ctrs));
    }

    /// The traffic of removing them again (untimed: the bench removes its inserted keys
    /// between chunks, which leaves the same lines as warm).
    pub fn undo(&mut self, bs: &[Binding], first: usize) {
        let nb = self.nb;
        let idx = self.idx.each_mut().map(Lines::words);
        let recs = self.recs.words();
        for (j, b) in bs.iter().enumerate() {
            let hs = HASHER.keys(b);
            for t in 0..KEYS {
                let h = hs[t];
                idx[t][home(h, nb) * 8 + (h as usize >> 8 & 7)] ^= h | 1;
            }
            recs[(first + j) * 8..(first + j) * 8 + 8].fill(0);
        }
        black_box((&idx, &recs));
    }
}

/// Keys per hit batch (the batch lookups' `BATCH`).
const BATCH: usize = 32;
/// Record-id bits of the hit floor's slots (ids below 2^21).
const ID_BITS: u32 = 21;

/// See the module text.
pub struct HitShaped {
    idx: Lines,
    recs: Lines,
    nb: u64,
}

impl HitShaped {
    /// A /64 index (sized as the cache's for `keys` keys) whose slots name record `i` for
    /// `hoas[i]`'s /64, and a record array of `hoas.len()` lines.
    #[must_use]
    pub fn new(hoas: impl ExactSizeIterator<Item = Ipv6Addr>, keys: usize) -> Self {
        let n = hoas.len();
        let nb = buckets_for(keys);
        let mut s = Self {
            idx: Lines::like_region(nb),
            recs: Lines::new(n, true),
            nb: nb as u64,
        };
        s.idx.fault_in();
        let slots = s.idx.slots();
        for (id, a) in hoas.enumerate() {
            let h = HASHER.p64(u128::from(a));
            let mut i = home(h, s.nb);
            // The first free slot of the home bucket or a following one.
            'place: loop {
                for v in &mut slots[i * 16..i * 16 + 15] {
                    if *v == 0 {
                        *v = (h as u32 & !((1 << ID_BITS) - 1)) | (id as u32 + 1);
                        break 'place;
                    }
                }
                i = (i + 1) % nb;
            }
        }
        let w = s.recs.words();
        for (id, r) in w.chunks_mut(8).enumerate() {
            r.fill(id as u64);
        }
        s
    }

    /// Record id named in bucket `i` (or, for a key that spilled, the next ones) for `h`.
    #[inline(always)]
    fn id(slots: &[u32], nb: usize, h: u64, mut i: usize) -> usize {
        let tag = h as u32 & !((1 << ID_BITS) - 1);
        for _ in 0..nb {
            let line = &slots[i * 16..i * 16 + 15];
            if let Some(v) = line
                .iter()
                .find(|&&v| v != 0 && v & !((1 << ID_BITS) - 1) == tag)
            {
                return (v & ((1 << ID_BITS) - 1)) as usize - 1;
            }
            i = (i + 1) % nb;
        }
        0
    }

    /// Look up `a` (at most 32 keys at a time in flight); a fold of the records read.
    pub fn batch(&mut self, a: &[Ipv6Addr]) -> u64 {
        let nb = self.nb;
        let slots: &[u32] = self.idx.slots();
        let mut acc = 0u64;
        let recs_ptr = self.recs.ptr;
        let n_recs = self.recs.lines;
        for c in a.chunks(BATCH) {
            let mut hs = [0u64; BATCH];
            let mut homes = [0usize; BATCH];
            for (j, x) in c.iter().enumerate() {
                hs[j] = HASHER.p64(u128::from(*x));
                homes[j] = home(hs[j], nb);
                prefetch(slots.as_ptr().wrapping_add(homes[j] * 16));
            }
            let mut ids = [0usize; BATCH];
            for j in 0..c.len() {
                ids[j] = Self::id(slots, nb as usize, hs[j], homes[j]).min(n_recs - 1);
                prefetch(recs_ptr.wrapping_add(ids[j] * 8));
            }
            for &id in &ids[..c.len()] {
                // SAFETY: `id < lines`: the record line is inside the mapping (8 u64s
                // per line); nothing writes the records while `self` is borrowed.
                let r = unsafe { core::slice::from_raw_parts(recs_ptr.add(id * 8), 8) };
                acc ^= r.iter().fold(0, |x, w| x ^ w);
            }
        }
        black_box(acc)
    }
}
