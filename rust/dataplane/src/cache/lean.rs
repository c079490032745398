//! The batch insert's lean kernel (session 8): the common case of a group of
//! `insert_batch` / `insert_batch_with` — valid bindings whose keys the filters prove
//! fresh, no table growth or record-id widening due in the group — in straight-line code.
//!
//! Per group, each table's writer view is read once into a [`Lane`] (buckets, filter,
//! bucket count, id width). Per binding, its keys are hashed by kind with no key list in
//! between (HoA; /64 or other prefix; IPv4 HoA if any; inbound UDP-or-plain; inbound SPI
//! if any), then each binding in order, its home buckets, filter words, record and
//! counters lines hinted to the CPU [`HINT_AHEAD`] bindings before its turn (session 9;
//! session 8 hinted the whole group's at once, which this VM's CPU mostly dropped): if every key is surely absent — its filter
//! word says so or, for the ~7 % of keys whose word says "maybe", its home bucket (or,
//! when keys spilled past that, the next one too) holds no slot with its tag and nothing
//! spilled past it (final for the writer: nothing else changes the tables) — its record goes in and each key takes the first free slot of its
//! home bucket. Anything else goes to the general path: a group needing growth or wider
//! ids to [`BindingCache::insert_group`]'s planned path (which rebuilds first), a binding
//! with a key that may be present (a duplicate, or a tag match) to `place_planned`'s
//! exact duplicate check, a full home bucket to the general placement (overflow counts).
//!
//! Instructions per batched insert (`examples/cache_ops.rs insert_batch 110000 15000`,
//! callgrind on `timed_inserts` only, 4 keys per binding): 1 128 before, 843 with it; keys
//! removed before and inserted again (`reinsert_batch`, every filter word "maybe"):
//! 1 470 before, 1 043 with it. A later binding of the group
//! sees the earlier ones (their filter bits and slots are set before it is checked), so
//! results, errors and final state are those of the same inserts one by one.
//!
//! Session 10: a key's duplicate check and its placement share one read of its home bucket
//! line ([`Lane::vacancy`] gives the empty slots found with the tag comparison,
//! [`Lane::place_free`] takes the first), and [`BindingCache::insert_with`] runs this
//! kernel as a group of one (`N` = 1). Callgrind per insert: `reinsert_batch` 1 027 ->
//! 1 007, single `reinsert` 1 577 -> 1 310, single `insert` 1 276 -> 1 135.
//!
//! Session 12: a /64 binding has no HoA key (see `BindingCache::find_hoa`), so it has
//! three keys in the bench's shape, not four; key 5 is checked, not placed: the binding's
//! HoA in the index its own keys do not cover (the HoA index for a /64 binding, only while
//! that holds keys or the group placed one; the /64 index for another). `each_key!` takes
//! the two prefix-length cases as two branches, so every key's table is a constant.
//! Callgrind per insert (the same runs): `insert_batch` 834 -> 729, `reinsert_batch`
//! 1 004 -> 856, single `insert` 1 133 -> 1 028.
//!
//! Session 13: each key's hint covers the bucket after its home too ([`Lane::prefetch`]):
//! a full home bucket sends the key on to it, keys spilled past the home make the
//! duplicate check read it, and those reads (0.68 per insert in the bench's insert row)
//! were dependent DRAM reads; `insert_batch` hints the next group's bindings while
//! placing a group (this kernel reads them all at a group's start).

use core::sync::atomic::Ordering;

use super::table::{Lane, Writer};
use super::Binding;
use super::{addr128, mask128, BindingCache, CacheError, CareOf, Key, WriterState, TABLES};

/// Keys per binding, in `keys_of` order: 0 HoA (not for a /64 binding: session 12), 1
/// prefix, 2 IPv4 HoA, 3 inbound UDP-or-plain, 4 inbound SPI; then 5, checked but not
/// placed: the HoA in the index its own keys do not cover (the HoA index for a /64
/// binding, only while it holds keys; the /64 index, by the HoA's upper half, for another).
const KEYS: usize = 6;

/// How many bindings ahead of the one being placed the lean kernel hints the CPU to fetch
/// lines (each binding: up to 5 home bucket lines, the bucket line after each, the filter
/// words, its record and counters line). Session 9: the whole group's ~160 hints at once
/// (the session-8 kernel) mostly go unheeded on the VM measured, which heeds about 16
/// software prefetches issued together and drops most of the rest
/// (`examples/cache_ops.rs prefetch_check`: 8 or 16 lines hinted together read 4 000
/// cycles later nearly as fast as loaded ones, 64 or 128 nearly as slowly as untouched
/// ones), so the hints go out a few bindings ahead (~30 lines in flight; 1, 2, 3 and 4
/// ahead measured alike within this VM's noise, all well below the whole group).
/// Session 13, with the next bucket lines hinted too (11 lines per binding of the bench):
/// 2, 3 and 4 ahead alike again, 6 and 8 slower (`cache_ops rebatch`, medians of 6
/// alternated runs: 272, 268, 262, then 294 and 326 ns).
const HINT_AHEAD: usize = 3;

/// Which kernel placed the bindings of a batch insert (tests: the twin tests check that
/// both the lean kernel and each of its fallbacks ran).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct LeanStats {
    /// Bindings placed by the lean kernel.
    pub(super) lean: usize,
    /// Bindings handed to the exact duplicate check (a filter word said "maybe").
    pub(super) checked: usize,
    /// Groups handed to the planned path (growth or wider ids due).
    pub(super) groups_planned: usize,
    /// Keys of lean bindings whose home bucket was full (general placement).
    pub(super) spilled: usize,
}

#[cfg(test)]
thread_local! {
    pub(super) static LEAN_STATS: core::cell::Cell<LeanStats> =
        const { core::cell::Cell::new(LeanStats { lean: 0, checked: 0, groups_planned: 0, spilled: 0 }) };
}

#[cfg(test)]
fn note(f: impl FnOnce(&mut LeanStats)) {
    LEAN_STATS.with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

/// Where the lean kernel puts each binding's result: a batch's `Vec`, or the one result of
/// a single insert (session 10: [`BindingCache::insert_with`] is a group of one).
pub(super) trait Results {
    fn push(&mut self, r: Result<(), CacheError>);
}

impl Results for Vec<Result<(), CacheError>> {
    #[inline(always)]
    fn push(&mut self, r: Result<(), CacheError>) {
        Vec::push(self, r);
    }
}

impl Results for Option<Result<(), CacheError>> {
    #[inline(always)]
    fn push(&mut self, r: Result<(), CacheError>) {
        *self = Some(r);
    }
}

/// One binding's keys as the lean kernel plans them.
#[derive(Clone, Copy)]
struct Keys {
    /// Hash of each key (`keys_of` order).
    h: [u64; KEYS],
    /// Bit `s` set when the binding has key `s`. Bit 0 (a HoA key) is set exactly for a
    /// binding whose prefix length is not 64, so it also says where its prefix key (the
    /// /64 index, or that of other lengths) and key 5 (the HoA index, or the /64 index) go.
    has: u8,
}

const NO_KEYS: Keys = Keys {
    h: [0; KEYS],
    has: 0,
};

/// `$body` (a `bool`) for each key `$s` the binding `$k` has, with its table `$t`, while
/// it gives true; whether all did. `for`: a `()` body for every key it places (0-4, in
/// `keys_of` order); `hint`: the same, and key 5. Written out key by key (a macro, not a
/// closure: each copy is inlined with `$s` and `$t` constants; session 12: the two
/// prefix-length cases are two branches, so the prefix key's table is a constant too).
macro_rules! each_key {
    (@all $five:expr, $k:expr, |$s:ident, $t:ident| $body:block) => {{
        let has = $k.has;
        if has & 1 == 0 {
            // A /64 binding: its prefix key in the /64 index (no HoA key); key 5, if any,
            // in the HoA index.
            {
                let ($s, $t) = (1usize, 1usize);
                $body
            }
            if $five && has & (1 << 5) != 0 {
                let ($s, $t) = (5usize, 0usize);
                $body
            }
        } else {
            // Another length: HoA key, prefix key in the index of other lengths; key 5
            // (always) in the /64 index.
            {
                let ($s, $t) = (0usize, 0usize);
                $body
            }
            {
                let ($s, $t) = (1usize, 2usize);
                $body
            }
            if $five {
                let ($s, $t) = (5usize, 1usize);
                $body
            }
        }
        if has & (1 << 2) != 0 {
            let ($s, $t) = (2usize, 3usize);
            $body
        }
        {
            let ($s, $t) = (3usize, 4usize);
            $body
        }
        if has & (1 << 4) != 0 {
            let ($s, $t) = (4usize, 4usize);
            $body
        }
    }};
    (for $k:expr, |$s:ident, $t:ident| $body:block) => {
        each_key!(@all false, $k, |$s, $t| $body)
    };
    (hint $k:expr, |$s:ident, $t:ident| $body:block) => {
        each_key!(@all true, $k, |$s, $t| $body)
    };
    ($k:expr, |$s:ident, $t:ident| $body:expr) => {{
        let has = $k.has;
        let mut all = if has & 1 == 0 {
            let prefix = {
                let ($s, $t) = (1usize, 1usize);
                $body
            };
            prefix
                && (has & (1 << 5) == 0 || {
                    let ($s, $t) = (5usize, 0usize);
                    $body
                })
        } else {
            let hoa = {
                let ($s, $t) = (0usize, 0usize);
                $body
            };
            hoa && {
                let ($s, $t) = (1usize, 2usize);
                $body
            } && {
                let ($s, $t) = (5usize, 1usize);
                $body
            }
        };
        all = all
            && (has & (1 << 2) == 0 || {
                let ($s, $t) = (2usize, 3usize);
                $body
            });
        all = all && {
            let ($s, $t) = (3usize, 4usize);
            $body
        };
        all && (has & (1 << 4) == 0 || {
            let ($s, $t) = (4usize, 4usize);
            $body
        })
    }};
}

/// The home bucket of each key of `k` in its table, each home bucket line and filter word
/// hinted to the CPU.
#[inline(always)]
fn hint_lines(lanes: &[Lane<'_>; TABLES], k: &Keys) -> [u32; KEYS] {
    let mut home = [0u32; KEYS];
    if k.has != 0 {
        each_key!(hint k, |s, t| {
            let i = lanes[t].home(k.h[s]);
            lanes[t].prefetch(i);
            home[s] = i as u32;
        });
    }
    home
}

impl<T> BindingCache<T> {
    /// The keys of a valid binding `b`, hashed by kind (the same keys and hashes as
    /// [`super::keys_of`] and [`Self::hash`]), and key 5: its HoA in the other index
    /// (for a /64 binding, only when `hoa_index`: the HoA index may hold keys).
    #[inline(always)]
    fn lean_keys(&self, b: &Binding, hoa_index: bool) -> Keys {
        let hoa = u128::from(b.home_address);
        let mut k = NO_KEYS;
        let p64 = self.hash(Key::P64((hoa >> 64) as u64));
        k.has = 0b0_1010;
        if b.prefix_len == 64 {
            k.h[1] = p64;
            if hoa_index {
                k.h[5] = self.hash(Key::Hoa(hoa));
                k.has |= 1 << 5;
            }
        } else {
            k.h[0] = self.hash(Key::Hoa(hoa));
            k.h[1] = self.hash(Key::Pfx(mask128(hoa, b.prefix_len), b.prefix_len));
            k.h[5] = p64;
            k.has |= 1 | 1 << 5;
        }
        if let Some(a) = b.ipv4_home_address {
            k.h[2] = self.hash(Key::V4(u32::from(a)));
            k.has |= 1 << 2;
        }
        let coa = addr128(b.care_of.addr());
        k.h[3] = match b.care_of {
            CareOf::V4 { port: Some(p), .. } => self.hash(Key::In(coa, 2, u32::from(p))),
            _ => self.hash(Key::In(coa, 0, 0)),
        };
        if let Some(s) = b.sa_in {
            k.h[4] = self.hash(Key::In(coa, 1, s));
            k.has |= 1 << 4;
        }
        k
    }

    /// Writer, batch insert of `bs` (at most `N`: `INSERT_AHEAD`, or 1 for a single
    /// insert) by the lean kernel (see the
    /// module text). False, with nothing done, when the group needs table growth or wider
    /// record ids (the caller takes the planned path, which rebuilds first).
    pub(super) fn insert_group_lean<const N: usize>(
        &self,
        w: &mut WriterState,
        bs: &[Binding],
        payload: &mut impl FnMut(usize) -> Option<T>,
        out: &mut impl Results,
    ) -> bool {
        let n = bs.len();
        if n > N {
            return false;
        }
        let mut keys = [NO_KEYS; N];
        // Valid bindings, those of them with a HoA key (and so a prefix key of another
        // length than 64), an IPv4 HoA key, an inbound SPI key (at most `N` each: no wrap).
        let (mut valid_n, mut other_n, mut v4_n, mut spi_n) = (0usize, 0usize, 0usize, 0usize);
        // Whether the HoA index may hold keys when a binding is checked (it does once a
        // binding of the group with a HoA key is placed).
        let mut hoa_index = self.hoa_keys();
        for (k, b) in keys.iter_mut().zip(bs).take(n) {
            // A /64 (the common case) agrees with its HoA when their upper halves do.
            let valid = if b.prefix_len == 64 {
                b.home_address.octets()[..8] == b.home_prefix.octets()[..8]
            } else {
                Self::validate(b).is_ok()
            };
            if valid {
                *k = self.lean_keys(b, hoa_index);
                hoa_index |= b.prefix_len != 64;
                valid_n = valid_n.wrapping_add(1);
                other_n = other_n.wrapping_add(usize::from(k.has & 1));
                v4_n = v4_n.wrapping_add(usize::from(k.has >> 2 & 1));
                spi_n = spi_n.wrapping_add(usize::from(k.has >> 4 & 1));
            }
        }
        // Keys per table: HoA, /64, other prefixes, IPv4 HoA, inbound (one or two each).
        let extra = [
            other_n,
            valid_n.wrapping_sub(other_n),
            other_n,
            v4_n,
            valid_n.wrapping_add(spi_n),
        ];
        let ids = self.high.load(Ordering::Relaxed) + n;
        let Some(views) = self.room_views(extra, ids) else {
            #[cfg(test)]
            note(|s| s.groups_planned += 1);
            return false;
        };
        let lanes = views.map(|v| v.lane());
        // Each binding's homes are worked out and its lines hinted `HINT_AHEAD` bindings
        // ahead of its placement (see there).
        let mut homes = [[0u32; KEYS]; N];
        let recs = self.next_record_ids::<N>(w, n, ids);
        for ((home, k), &id) in homes
            .iter_mut()
            .zip(&keys)
            .zip(&recs)
            .take(HINT_AHEAD.min(n))
        {
            *home = hint_lines(&lanes, k);
            self.prefetch_record(id);
        }
        let mut placed = [0usize; TABLES];
        for (j, (b, k)) in bs.iter().zip(&keys).take(n).enumerate() {
            let ahead = j + HINT_AHEAD;
            if let (true, Some(ka), Some(&id)) = (ahead < n, keys.get(ahead), recs.get(ahead)) {
                if let Some(h) = homes.get_mut(ahead) {
                    *h = hint_lines(&lanes, ka);
                }
                self.prefetch_record(id);
            }
            let home = homes.get(j).copied().unwrap_or_default();
            if k.has == 0 {
                out.push(Err(CacheError::BadPrefix));
                continue;
            }
            // Each key's filter bits, and its home bucket's empty slots read with its tag
            // comparison (one read of the line serves the duplicate check and the
            // placement).
            let mut bits = [0u64; KEYS];
            let mut free = [0u32; KEYS];
            let fresh = each_key!(k, |s, t| {
                bits[s] = Lane::bits(k.h[s]);
                lanes[t]
                    .vacancy(k.h[s], bits[s], home[s] as usize)
                    .map(|f| free[s] = f)
                    .is_some()
            });
            if !fresh {
                // A filter word says "maybe": the exact duplicate check and placement.
                #[cfg(test)]
                note(|s| s.checked += 1);
                out.push(self.lean_checked(w, b, || payload(j), k, &views));
                continue;
            }
            #[cfg(test)]
            note(|s| s.lean += 1);
            let Some(p) = payload(j) else {
                out.push(Err(CacheError::KeyConflict));
                continue;
            };
            let Some(id) = self.put_new(w, b, p) else {
                out.push(Err(CacheError::KeyConflict));
                continue;
            };
            if k.has & 1 != 0 {
                self.hoa_mark(0, 1);
            }
            each_key!(for k, |s, t| {
                let (h, i) = (k.h[s], home[s] as usize);
                let home = if s == 4 {
                    // The inbound SPI key shares table 4 (maybe its home bucket too) with
                    // key 3, placed just before: its bucket is read again.
                    lanes[t].place(h, bits[s], i, id)
                } else {
                    lanes[t].place_free(h, bits[s], i, id, free[s])
                };
                #[cfg(test)]
                if home == 0 {
                    note(|x| x.spilled += 1);
                }
                // (At most 80 keys per group: no wrap.)
                placed[t] = placed[t].wrapping_add(home);
            });
            self.count_length(w, b.prefix_len, true);
            self.len.store(
                self.len.load(Ordering::Relaxed).wrapping_add(1),
                Ordering::Relaxed,
            );
            out.push(Ok(()));
        }
        for (lane, n) in lanes.iter().zip(placed) {
            if n != 0 {
                lane.add_len(n);
            }
        }
        true
    }

    /// The writer views of every table when each has room for `extra[t]` more keys and
    /// record ids below `ids` without a rebuild; None otherwise.
    #[inline(always)]
    fn room_views(&self, extra: [usize; TABLES], ids: usize) -> Option<[Writer<'_>; TABLES]> {
        let [a, b, c, d, e] = self.tables.each_ref().map(|t| t.writer());
        let v = [a?, b?, c?, d?, e?];
        v.iter()
            .zip(&extra)
            .all(|(v, &x)| x == 0 || v.has_room(x, ids))
            .then_some(v)
    }

    /// A binding of the lean kernel that a filter word could not prove fresh: the planned
    /// path's exact duplicate check and placement (`place_planned`), with the same keys.
    #[inline(never)]
    fn lean_checked(
        &self,
        w: &mut WriterState,
        b: &Binding,
        payload: impl FnOnce() -> Option<T>,
        k: &Keys,
        views: &[Writer<'_>; TABLES],
    ) -> Result<(), CacheError> {
        let mut plan = [(0u8, 0u8, 0u64); KEYS];
        let mut spots = [None; KEYS];
        let mut m = 0;
        each_key!(for k, |s, t| {
            plan[m] = (t as u8, s as u8, k.h[s]);
            spots[m] = Some(views[t].spot(k.h[s]));
            m += 1;
        });
        self.place_planned(w, b, payload, &plan[..m], &spots[..m], views)
    }
}
