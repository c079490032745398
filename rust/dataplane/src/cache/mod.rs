//! The Home Agent's binding cache (RFC 6275 §9.1, RFC 5555 §3.1, RFC 3963 prefixes) — also
//! usable as the UE's binding update list. Pure Rust, no clock reads (time is an argument),
//! no `unsafe` (STYLE §2.6).
//!
//! # Indexes (STYLE §3 "two indexes")
//! * outbound, by IPv6 home address (exact), by home network prefix (longest-prefix match over
//!   the prefix lengths in use) and by IPv4 home address;
//! * inbound, by (outer source address, SPI | UDP source port | plain).
//!
//! # Concurrency
//! Every index is split into shards, each behind its own `RwLock`; readers take one shard's
//! read lock per probe and never wait for another shard's writer. Writers (control plane) are
//! serialised by one mutex so multi-index updates stay consistent for other writers; a reader
//! racing an update sees either the old or the new binding for the HoA it probes. Per-binding
//! traffic counters are atomics, bumped under the read lock from the packet path.
//!
//! # Memory
//! Records live in a slab per primary shard with stable slots (a freed slot is reused). The
//! primary table stores only slot numbers (the HoA is read through the slab); the secondary
//! indexes map their keys to 32-bit record ids (shard, slot), and a reader checks that the
//! record it reaches still owns the key (a writer may have changed it in between).

#![deny(unsafe_code)]

use core::fmt;
use core::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use core::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap};

/// A point on the caller's clock, in microseconds (STYLE §1.4: time is an argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(pub u64);

impl Instant {
    /// From float seconds (negative and NaN clamp to 0).
    #[must_use]
    pub fn from_secs_f64(s: f64) -> Self {
        Self((s.max(0.0) * 1e6) as u64)
    }

    #[must_use]
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

/// How user-plane packets travel between HA and UE (RFC 5555 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encapsulation {
    IpInIpv6,
    IpInIpv4,
    UdpIpv4,
}

/// The registered care-of address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CareOf {
    V6(Ipv6Addr),
    /// IPv4 CoA, with the UDP source port seen when UDP-encapsulated (NAT mapping).
    V4 {
        addr: Ipv4Addr,
        port: Option<u16>,
    },
}

impl CareOf {
    #[must_use]
    pub fn addr(self) -> IpAddr {
        match self {
            Self::V6(a) => IpAddr::V6(a),
            Self::V4 { addr, .. } => IpAddr::V4(addr),
        }
    }
}

/// One binding. `Copy`, no heap: lookups return it by value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binding {
    pub home_address: Ipv6Addr,
    pub home_prefix: Ipv6Addr,
    pub prefix_len: u8,
    pub ipv4_home_address: Option<Ipv4Addr>,
    pub care_of: CareOf,
    pub encapsulation: Encapsulation,
    /// Granted lifetime in seconds.
    pub lifetime: f32,
    pub expires_at: Instant,
    /// Last accepted BU sequence number (compare with [`crate::seq::seq_newer`]).
    pub sequence: u16,
    /// BU flags as received (RFC 6275 §6.1.7).
    pub flags: u16,
    /// Inbound / outbound user-plane ESP SAs (SPIs), when payload protection is on.
    pub sa_in: Option<u32>,
    pub sa_out: Option<u32>,
}

/// Per-binding traffic counters (packets/octets towards and from the UE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindingCounters {
    pub packets_to_ue: u64,
    pub bytes_to_ue: u64,
    pub packets_from_ue: u64,
    pub bytes_from_ue: u64,
}

#[derive(Debug, Default)]
struct AtomicCounters([AtomicU64; 4]);

impl AtomicCounters {
    fn snapshot(&self) -> BindingCounters {
        let g = |i: usize| self.0[i].load(Ordering::Relaxed);
        BindingCounters {
            packets_to_ue: g(0),
            bytes_to_ue: g(1),
            packets_from_ue: g(2),
            bytes_from_ue: g(3),
        }
    }
}

/// Inbound demultiplexing key besides the outer source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InboundKey {
    /// ESP tunnel SA from this CoA.
    Spi(u32),
    /// UDP (RFC 5555 §4.1) from this CoA and source port.
    UdpPort(u16),
    /// Plain IP-in-IP from this CoA.
    Plain,
}

/// Binding-cache errors (small and `Copy`, STYLE §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheError {
    /// A binding for this home address exists.
    Exists,
    /// No binding for this home address.
    NotFound,
    /// The prefix, IPv4 HoA or inbound key already belongs to another binding.
    KeyConflict,
    /// Prefix length > 128 or home address outside the prefix.
    BadPrefix,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Exists => "a binding for this home address exists",
            Self::NotFound => "no binding for this home address",
            Self::KeyConflict => {
                "prefix, IPv4 home address or inbound key belongs to another binding"
            }
            Self::BadPrefix => "bad home network prefix",
        })
    }
}

impl std::error::Error for CacheError {}

const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

#[inline]
fn shard_of(bytes: &[u8; 16]) -> usize {
    // Fibonacci hashing of the folded address: the low 64 bits (interface ID) vary most.
    let v = u128::from_be_bytes(*bytes);
    let x = (v as u64) ^ ((v >> 64) as u64);
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
}

/// A sharded read-mostly container (one `RwLock` per shard).
struct Sharded<M> {
    shards: Box<[RwLock<M>]>,
}

impl<M: Default> Sharded<M> {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(M::default())).collect(),
        }
    }

    fn read<R>(&self, shard: usize, f: impl FnOnce(&M) -> R) -> R {
        let guard = self.shards[shard]
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&guard)
    }

    fn write<R>(&self, shard: usize, f: impl FnOnce(&mut M) -> R) -> R {
        let mut guard = self.shards[shard]
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut guard)
    }
}

/// Slot bits of a record id; the upper bits name the shard (`id = shard << SLOT_BITS | slot`).
const SLOT_BITS: u32 = 32 - SHARD_BITS;
const MAX_SLOTS: usize = 1 << SLOT_BITS;

#[inline]
fn record_id(shard: usize, slot: u32) -> u32 {
    ((shard as u32) << SLOT_BITS) | slot
}

#[inline]
fn split_id(id: u32) -> (usize, u32) {
    ((id >> SLOT_BITS) as usize, id & ((1 << SLOT_BITS) - 1))
}

/// Open-addressing (linear probing) table of record slots for one primary shard. A cell holds
/// `tag << 32 | (slot + 1)` (0 = empty), the tag being the upper half of the key's hash, so a
/// probe reads one cache line of cells and then the record itself: two memory touches per
/// hit, as for a `dict`. Keys are not stored: they are read from the slab (via `key_of`).
/// Load stays at most 3/4; removal shifts later cells back (no tombstones).
#[derive(Default)]
struct SlotTable {
    cells: Vec<u64>,
    len: usize,
}

impl SlotTable {
    #[inline]
    fn mask(&self) -> usize {
        self.cells.len().wrapping_sub(1)
    }

    /// The cell index holding a slot for which `eq` holds, probing from `h`'s home.
    #[inline]
    fn find_pos(&self, h: u64, eq: impl Fn(u32) -> bool) -> Option<usize> {
        if self.cells.is_empty() {
            return None;
        }
        let mask = self.mask();
        let tag = h >> 32;
        let mut i = (h as usize) & mask;
        loop {
            let c = *self.cells.get(i)?;
            if c == 0 {
                return None;
            }
            if c >> 32 == tag && eq((c as u32).wrapping_sub(1)) {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    fn place(cells: &mut [u64], h: u64, slot: u32) {
        let mask = cells.len() - 1;
        let mut i = (h as usize) & mask;
        while cells[i] != 0 {
            i = (i + 1) & mask;
        }
        cells[i] = ((h >> 32) << 32) | u64::from(slot + 1);
    }

    /// Add `slot` (not present) under hash `h`; `hash_of` rehashes other slots on growth.
    fn insert(&mut self, h: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        if (self.len + 1) * 4 > self.cells.len() * 3 {
            let mut cells = vec![0u64; (self.cells.len() * 2).max(16)];
            for &c in self.cells.iter().filter(|&&c| c != 0) {
                let s = (c as u32).wrapping_sub(1);
                Self::place(&mut cells, hash_of(s), s);
            }
            self.cells = cells;
        }
        Self::place(&mut self.cells, h, slot);
        self.len += 1;
    }

    /// Remove the cell at `pos`, shifting back later cells of the same run (`hash_of` gives
    /// a slot's home).
    fn remove_at(&mut self, pos: usize, hash_of: impl Fn(u32) -> u64) {
        let mask = self.mask();
        let mut hole = pos;
        self.cells[hole] = 0;
        let mut j = pos;
        loop {
            j = (j + 1) & mask;
            let c = self.cells[j];
            if c == 0 {
                break;
            }
            let home = (hash_of((c as u32).wrapping_sub(1)) as usize) & mask;
            // `c` may fill the hole when the hole lies on its probe path [home, j).
            if (hole.wrapping_sub(home) & mask) < (j.wrapping_sub(home) & mask) {
                self.cells[hole] = c;
                self.cells[j] = 0;
                hole = j;
            }
        }
        self.len -= 1;
    }
}

/// One shard of the primary index: a dense slab of records with stable slots (freed slots are
/// reused), and a table of slot numbers whose key (the HoA) is read through the slab, so no
/// key is stored twice. The secondary indexes hold record ids (shard + slot), not keys.
struct Primary<T> {
    index: SlotTable,
    slab: Vec<Option<Stored<T>>>,
    free: Vec<u32>,
    hasher: DefaultHashBuilder,
}

impl<T> Default for Primary<T> {
    fn default() -> Self {
        Self {
            index: SlotTable::default(),
            slab: Vec::new(),
            free: Vec::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

#[inline]
fn hoa_hash(hasher: &DefaultHashBuilder, k: &[u8; 16]) -> u64 {
    hasher.hash_one(u128::from_ne_bytes(*k))
}

#[inline]
fn slot_key<T>(slab: &[Option<Stored<T>>], i: u32) -> Option<[u8; 16]> {
    slab.get(i as usize)?
        .as_ref()
        .map(|st| st.binding.home_address.octets())
}

impl<T> Primary<T> {
    #[inline]
    fn find_pos(&self, k: &[u8; 16]) -> Option<usize> {
        let slab = &self.slab;
        self.index
            .find_pos(hoa_hash(&self.hasher, k), |i| slot_key(slab, i) == Some(*k))
    }

    #[inline]
    fn find(&self, k: &[u8; 16]) -> Option<u32> {
        let c = *self.index.cells.get(self.find_pos(k)?)?;
        Some((c as u32).wrapping_sub(1))
    }

    fn contains_key(&self, k: &[u8; 16]) -> bool {
        self.find_pos(k).is_some()
    }

    #[inline]
    fn slot(&self, i: u32) -> Option<&Stored<T>> {
        self.slab.get(i as usize)?.as_ref()
    }

    #[inline]
    fn get(&self, k: &[u8; 16]) -> Option<&Stored<T>> {
        self.slot(self.find(k)?)
    }

    fn get_mut(&mut self, k: &[u8; 16]) -> Option<&mut Stored<T>> {
        let i = self.find(k)?;
        self.slab.get_mut(i as usize)?.as_mut()
    }

    /// Insert a record for a key that is not present (callers check first); returns its
    /// slot, or None when the shard is full (2^26 records: far past any deployment).
    fn insert(&mut self, k: [u8; 16], v: Stored<T>) -> Option<u32> {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(v);
                s
            }
            None => {
                if self.slab.len() >= MAX_SLOTS {
                    return None;
                }
                self.slab.push(Some(v));
                (self.slab.len() - 1) as u32
            }
        };
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index.insert(hoa_hash(hasher, &k), slot, |i| {
            slot_key(slab, i).map_or(0, |key| hoa_hash(hasher, &key))
        });
        Some(slot)
    }

    fn remove(&mut self, k: &[u8; 16]) -> Option<Stored<T>> {
        let pos = self.find_pos(k)?;
        let slot = (self.index.cells[pos] as u32).wrapping_sub(1);
        let (slab, hasher) = (&self.slab, &self.hasher);
        self.index.remove_at(pos, |i| {
            slot_key(slab, i).map_or(0, |key| hoa_hash(hasher, &key))
        });
        let st = self.slab.get_mut(slot as usize)?.take();
        self.free.push(slot);
        st
    }

    fn values(&self) -> impl Iterator<Item = &Stored<T>> {
        self.slab.iter().flatten()
    }
}

/// The stored value of the primary index (the HoA is the key).
#[derive(Debug)]
struct Stored<T> {
    binding: Binding,
    counters: AtomicCounters,
    payload: T,
}

type PrefixKey = ([u8; 16], u8);
type InboundIdx = ([u8; 16], u8, u32);

fn mask(addr: [u8; 16], len: u8) -> [u8; 16] {
    let v = u128::from_be_bytes(addr);
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    };
    (v & m).to_be_bytes()
}

fn addr16(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

fn inbound_idx(src: IpAddr, key: InboundKey) -> InboundIdx {
    let (kind, val) = match key {
        InboundKey::Spi(s) => (1, s),
        InboundKey::UdpPort(p) => (2, u32::from(p)),
        InboundKey::Plain => (0, 0),
    };
    (addr16(src), kind, val)
}

fn inbound_keys(b: &Binding) -> [Option<InboundIdx>; 2] {
    let coa = b.care_of.addr();
    let udp = match b.care_of {
        CareOf::V4 { port: Some(p), .. } => Some(InboundKey::UdpPort(p)),
        _ => None,
    };
    let first = udp.unwrap_or(InboundKey::Plain);
    [
        Some(inbound_idx(coa, first)),
        b.sa_in.map(|s| inbound_idx(coa, InboundKey::Spi(s))),
    ]
}

/// The upper 64 bits of an address: the key of the /64 fast-path prefix index.
#[inline]
fn upper64(a: [u8; 16]) -> u64 {
    (u128::from_be_bytes(a) >> 64) as u64
}

#[inline]
fn shard_of64(k: u64) -> usize {
    (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SHARD_BITS)) as usize
}

/// Which secondary key a record id was found under; checked against the record itself, so a
/// reader racing a writer never returns a binding that does not own the key it asked for.
#[derive(Clone, Copy)]
enum Owns {
    Prefix([u8; 16], u8),
    V4(Ipv4Addr),
    Inbound(InboundIdx),
}

impl Owns {
    fn check(self, b: &Binding) -> bool {
        match self {
            Self::Prefix(p, len) => b.prefix_len == len && mask(b.home_prefix.octets(), len) == p,
            Self::V4(a) => b.ipv4_home_address == Some(a),
            Self::Inbound(k) => inbound_keys(b).contains(&Some(k)),
        }
    }
}

/// The binding cache. All methods take `&self`; share it with `Arc`. `T` is an optional
/// payload stored with each binding (the Python layer keeps its `BindingSpec` object there).
pub struct BindingCache<T = ()> {
    by_hoa: Sharded<Primary<T>>,
    /// /64 home network prefixes (the common case, RFC 6275 §13 / 3GPP): upper 64 bits → id.
    /// (Key as `[u8; 8]`: 12-octet buckets instead of 16.)
    by_prefix64: Sharded<HashMap<[u8; 8], u32>>,
    /// Every other prefix length: (masked prefix, length) → id.
    by_prefix: Sharded<HashMap<PrefixKey, u32>>,
    by_v4: Sharded<HashMap<[u8; 4], u32>>,
    by_inbound: Sharded<HashMap<InboundIdx, u32>>,
    /// Bit `l` set when some binding has a prefix of length `l` (0..=128), with counts.
    prefix_lengths: [AtomicU64; 3],
    writer: Mutex<WriterState>,
    len: AtomicU64,
}

#[derive(Default)]
struct WriterState {
    length_counts: Vec<u32>,
}

impl<T> Default for BindingCache<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for BindingCache<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindingCache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl BindingCache<()> {
    /// Add a binding (no payload). See [`BindingCache::insert_with`].
    ///
    /// # Errors
    /// As `insert_with`.
    pub fn insert(&self, b: Binding) -> Result<(), CacheError> {
        self.insert_with(b, ())
    }

    /// Replace a binding (no payload). See [`BindingCache::update_with`].
    ///
    /// # Errors
    /// As `update_with`.
    pub fn update(&self, b: Binding) -> Result<(), CacheError> {
        self.update_with(b, ())
    }
}

impl<T> BindingCache<T> {
    #[must_use]
    pub fn new() -> Self {
        Self {
            by_hoa: Sharded::new(),
            by_prefix64: Sharded::new(),
            by_prefix: Sharded::new(),
            by_v4: Sharded::new(),
            by_inbound: Sharded::new(),
            prefix_lengths: Default::default(),
            writer: Mutex::new(WriterState {
                length_counts: vec![0; 129],
            }),
            len: AtomicU64::new(0),
        }
    }

    /// Number of bindings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed) as usize
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn validate(b: &Binding) -> Result<(), CacheError> {
        if b.prefix_len > 128
            || mask(b.home_address.octets(), b.prefix_len)
                != mask(b.home_prefix.octets(), b.prefix_len)
        {
            return Err(CacheError::BadPrefix);
        }
        Ok(())
    }

    fn prefix_owner(&self, p: [u8; 16], len: u8) -> Option<u32> {
        if len == 64 {
            let k = upper64(p);
            self.by_prefix64
                .read(shard_of64(k), |m| m.get(&k.to_ne_bytes()).copied())
        } else {
            let k = (p, len);
            self.by_prefix.read(shard_of(&p), |m| m.get(&k).copied())
        }
    }

    fn v4_owner(&self, a: Ipv4Addr) -> Option<u32> {
        self.by_v4
            .read(shard_of(&a.to_ipv6_mapped().octets()), |m| {
                m.get(&a.octets()).copied()
            })
    }

    fn inbound_owner(&self, k: &InboundIdx) -> Option<u32> {
        self.by_inbound.read(shard_of(&k.0), |m| m.get(k).copied())
    }

    /// Whether a key of `b` belongs to a record other than `me` (writer lock held, so the
    /// secondary indexes are exact here).
    fn owner_conflicts(&self, b: &Binding, me: Option<u32>) -> bool {
        let other = |owner: Option<u32>| owner.is_some_and(|o| Some(o) != me);
        if other(self.prefix_owner(mask(b.home_prefix.octets(), b.prefix_len), b.prefix_len)) {
            return true;
        }
        if b.ipv4_home_address
            .is_some_and(|v4| other(self.v4_owner(v4)))
        {
            return true;
        }
        inbound_keys(b)
            .into_iter()
            .flatten()
            .any(|k| other(self.inbound_owner(&k)))
    }

    fn add_secondary(&self, w: &mut WriterState, b: &Binding, id: u32) {
        let p = mask(b.home_prefix.octets(), b.prefix_len);
        if b.prefix_len == 64 {
            let k = upper64(p);
            self.by_prefix64
                .write(shard_of64(k), |m| m.insert(k.to_ne_bytes(), id));
        } else {
            self.by_prefix
                .write(shard_of(&p), |m| m.insert((p, b.prefix_len), id));
        }
        let l = usize::from(b.prefix_len);
        w.length_counts[l] += 1;
        if w.length_counts[l] == 1 {
            self.prefix_lengths[l / 64].fetch_or(1 << (l % 64), Ordering::Release);
        }
        if let Some(v4) = b.ipv4_home_address {
            self.by_v4
                .write(shard_of(&v4.to_ipv6_mapped().octets()), |m| {
                    m.insert(v4.octets(), id)
                });
        }
        for k in inbound_keys(b).into_iter().flatten() {
            self.by_inbound.write(shard_of(&k.0), |m| m.insert(k, id));
        }
    }

    /// Remove `b`'s secondary keys, except those `keep` (the replacement, already added)
    /// also uses: readers never see a stable key vanish during an update.
    fn remove_secondary(&self, w: &mut WriterState, b: &Binding, keep: Option<&Binding>) {
        let p = mask(b.home_prefix.octets(), b.prefix_len);
        let keep_pk = keep.map(|k| (mask(k.home_prefix.octets(), k.prefix_len), k.prefix_len));
        if keep_pk != Some((p, b.prefix_len)) {
            if b.prefix_len == 64 {
                let k = upper64(p);
                self.by_prefix64
                    .write(shard_of64(k), |m| m.remove(&k.to_ne_bytes()));
            } else {
                self.by_prefix
                    .write(shard_of(&p), |m| m.remove(&(p, b.prefix_len)));
            }
        }
        let l = usize::from(b.prefix_len);
        w.length_counts[l] -= 1;
        if w.length_counts[l] == 0 {
            self.prefix_lengths[l / 64].fetch_and(!(1 << (l % 64)), Ordering::Release);
        }
        if let Some(v4) = b.ipv4_home_address {
            if keep.and_then(|k| k.ipv4_home_address) != Some(v4) {
                self.by_v4
                    .write(shard_of(&v4.to_ipv6_mapped().octets()), |m| {
                        m.remove(&v4.octets())
                    });
            }
        }
        let kept = keep.map(inbound_keys).unwrap_or_default();
        for k in inbound_keys(b).into_iter().flatten() {
            if !kept.contains(&Some(k)) {
                self.by_inbound.write(shard_of(&k.0), |m| m.remove(&k));
            }
        }
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add a binding.
    ///
    /// # Errors
    /// `Exists`, `KeyConflict` (prefix / IPv4 HoA / inbound key owned by another binding, or
    /// a shard holding 2^26 records), `BadPrefix`. Nothing changes on error.
    pub fn insert_with(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        Self::validate(&b)?;
        let mut w = self.lock_writer();
        let hoa = b.home_address.octets();
        let s = shard_of(&hoa);
        if self.by_hoa.read(s, |m| m.contains_key(&hoa)) {
            return Err(CacheError::Exists);
        }
        if self.owner_conflicts(&b, None) {
            return Err(CacheError::KeyConflict);
        }
        // The record first (it needs its slot), then the keys that lead to it.
        let slot = self
            .by_hoa
            .write(s, |m| {
                m.insert(
                    hoa,
                    Stored {
                        binding: b,
                        counters: AtomicCounters::default(),
                        payload,
                    },
                )
            })
            .ok_or(CacheError::KeyConflict)?;
        self.add_secondary(&mut w, &b, record_id(s, slot));
        self.len.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Replace the binding of `b.home_address` (new CoA, lifetime, sequence...). Counters stay.
    ///
    /// # Errors
    /// `NotFound`, `KeyConflict`, `BadPrefix`. Nothing changes on error.
    pub fn update_with(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        Self::validate(&b)?;
        let mut w = self.lock_writer();
        let hoa = b.home_address.octets();
        let s = shard_of(&hoa);
        let (old, slot) = self
            .by_hoa
            .read(s, |m| {
                let i = m.find(&hoa)?;
                Some((m.slot(i)?.binding, i))
            })
            .ok_or(CacheError::NotFound)?;
        let id = record_id(s, slot);
        if self.owner_conflicts(&b, Some(id)) {
            return Err(CacheError::KeyConflict);
        }
        // The record keeps its slot: new keys point at it before it changes (readers check
        // the record, so a new key answers only once the record is new), old keys go after.
        self.add_secondary(&mut w, &b, id);
        self.by_hoa.write(s, |m| {
            if let Some(st) = m.get_mut(&hoa) {
                st.binding = b;
                st.payload = payload;
            }
        });
        self.remove_secondary(&mut w, &old, Some(&b));
        Ok(())
    }

    /// Remove and return the binding of `hoa`.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn remove(&self, hoa: Ipv6Addr) -> Result<Binding, CacheError> {
        self.remove_with(hoa).map(|(b, _)| b)
    }

    /// Remove the binding of `hoa`, returning it with its payload.
    ///
    /// # Errors
    /// `NotFound`.
    pub fn remove_with(&self, hoa: Ipv6Addr) -> Result<(Binding, T), CacheError> {
        let mut w = self.lock_writer();
        let key = hoa.octets();
        // The freed slot is reused only by a later writer, after the keys below are gone.
        let st = self
            .by_hoa
            .write(shard_of(&key), |m| m.remove(&key))
            .ok_or(CacheError::NotFound)?;
        self.remove_secondary(&mut w, &st.binding, None);
        self.len.fetch_sub(1, Ordering::Relaxed);
        Ok((st.binding, st.payload))
    }

    /// Remove every binding whose `expires_at <= now`; returns their home addresses.
    pub fn expire(&self, now: Instant) -> Vec<Ipv6Addr> {
        self.expire_with(now)
            .into_iter()
            .map(|(b, _)| b.home_address)
            .collect()
    }

    /// As [`Self::expire`], returning the removed bindings with their payloads.
    pub fn expire_with(&self, now: Instant) -> Vec<(Binding, T)> {
        let expired: Vec<Ipv6Addr> = (0..SHARDS)
            .flat_map(|s| {
                self.by_hoa.read(s, |m| {
                    m.values()
                        .filter(|st| st.binding.expires_at <= now)
                        .map(|st| st.binding.home_address)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        expired
            .into_iter()
            .filter_map(|h| self.remove_with(h).ok())
            .collect()
    }

    /// The binding of exactly this home address.
    #[must_use]
    pub fn get(&self, hoa: Ipv6Addr) -> Option<Binding> {
        self.get_with(hoa, |b, _| *b)
    }

    /// Call `f` on the binding of exactly this home address and its payload (read lock held).
    #[inline]
    pub fn get_with<R>(&self, hoa: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let key = hoa.octets();
        self.by_hoa.read(shard_of(&key), |m| {
            m.get(&key).map(|st| f(&st.binding, &st.payload))
        })
    }

    /// Call `f` on the record `id` if it still owns the key it was found under.
    #[inline]
    fn by_id<R>(&self, id: u32, owns: Owns, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let (s, slot) = split_id(id);
        self.by_hoa.read(s, |m| {
            m.slot(slot)
                .filter(|st| owns.check(&st.binding))
                .map(|st| f(&st.binding, &st.payload))
        })
    }

    /// Look up a secondary key and call `f` on its record. A writer may move the key between
    /// the two steps (reused slot, changed record): then the lookup is retried a few times,
    /// and a key that keeps moving reads as absent (it was being removed or replaced).
    fn via<R>(
        &self,
        owner: impl Fn() -> Option<u32>,
        owns: Owns,
        f: impl FnOnce(&Binding, &T) -> R,
    ) -> Option<R> {
        let mut f = Some(f);
        for _ in 0..4 {
            let id = owner()?;
            let hit = self.by_id(id, owns, |b, p| f.take().map(|f| f(b, p)));
            if let Some(r) = hit {
                return r;
            }
        }
        None
    }

    /// [`Self::lookup_v6`] with a closure over the binding and payload.
    pub fn lookup_v6_with<R>(&self, dst: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let mut f = Some(f);
        if let Some(r) = self.get_with(dst, |b, p| f.take().map(|f| f(b, p))) {
            return r;
        }
        self.lpm_with(dst.octets(), f?)
    }

    /// [`Self::lookup_v4`] with a closure over the binding and payload.
    pub fn lookup_v4_with<R>(&self, dst: Ipv4Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        self.via(|| self.v4_owner(dst), Owns::V4(dst), f)
    }

    /// [`Self::lookup_inbound`] with a closure over the binding and payload.
    pub fn lookup_inbound_with<R>(
        &self,
        src: IpAddr,
        key: InboundKey,
        f: impl FnOnce(&Binding, &T) -> R,
    ) -> Option<R> {
        let k = inbound_idx(src, key);
        self.via(|| self.inbound_owner(&k), Owns::Inbound(k), f)
    }

    /// Call `f` on every binding and payload, shard by shard (each shard read-locked in turn).
    pub fn for_each(&self, mut f: impl FnMut(&Binding, &T)) {
        for s in 0..SHARDS {
            self.by_hoa
                .read(s, |m| m.values().for_each(|st| f(&st.binding, &st.payload)));
        }
    }

    /// Outbound lookup of an IPv6 destination: the binding with this HoA, else the one whose
    /// home network prefix is the longest match.
    #[must_use]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<Binding> {
        self.lookup_v6_with(dst, |b, _| *b)
    }

    /// Longest-prefix match over the prefix lengths in use, longest first (/64 through its
    /// own index).
    fn lpm_with<R>(&self, addr: [u8; 16], f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let mut f = Some(f);
        for word in (0..3).rev() {
            let mut bits = self.prefix_lengths[word].load(Ordering::Acquire);
            while bits != 0 {
                let top = 63 - bits.leading_zeros();
                bits &= !(1u64 << top);
                let len = (word * 64) as u8 + top as u8;
                let p = mask(addr, len);
                let hit = self.via(
                    || self.prefix_owner(p, len),
                    Owns::Prefix(p, len),
                    |b, t| f.take().map(|f| f(b, t)),
                );
                if let Some(r) = hit {
                    return r;
                }
            }
        }
        None
    }

    /// Outbound lookup of an IPv4 destination (IPv4 home address).
    #[must_use]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<Binding> {
        self.lookup_v4_with(dst, |b, _| *b)
    }

    /// Inbound lookup: the binding registered from `src` with this key.
    #[must_use]
    pub fn lookup_inbound(&self, src: IpAddr, key: InboundKey) -> Option<Binding> {
        self.lookup_inbound_with(src, key, |b, _| *b)
    }

    /// Count one packet of `bytes` octets towards (`to_ue`) or from the UE of `hoa`.
    /// Returns false when there is no such binding.
    pub fn count(&self, hoa: Ipv6Addr, to_ue: bool, bytes: u64) -> bool {
        let key = hoa.octets();
        self.by_hoa.read(shard_of(&key), |m| {
            m.get(&key).is_some_and(|st| {
                let base = if to_ue { 0 } else { 2 };
                st.counters.0[base].fetch_add(1, Ordering::Relaxed);
                st.counters.0[base + 1].fetch_add(bytes, Ordering::Relaxed);
                true
            })
        })
    }

    #[must_use]
    pub fn counters(&self, hoa: Ipv6Addr) -> Option<BindingCounters> {
        let key = hoa.octets();
        self.by_hoa.read(shard_of(&key), |m| {
            m.get(&key).map(|st| st.counters.snapshot())
        })
    }

    /// A snapshot of every binding (shard by shard).
    #[must_use]
    pub fn snapshot(&self) -> Vec<Binding> {
        let mut v = Vec::with_capacity(self.len());
        for s in 0..SHARDS {
            self.by_hoa
                .read(s, |m| v.extend(m.values().map(|st| st.binding)));
        }
        v
    }
}

#[cfg(test)]
mod test;
