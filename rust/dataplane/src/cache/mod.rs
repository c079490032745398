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

#![deny(unsafe_code)]

use core::fmt;
use core::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use hashbrown::HashMap;

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

/// One shard of the primary index: HoA → slot in a dense slab of records, so the hash table
/// holds 20-octet buckets and the records are packed (memory per entry, see the benches).
struct Primary<T> {
    index: HashMap<[u8; 16], u32>,
    slab: Vec<Stored<T>>,
}

impl<T> Default for Primary<T> {
    fn default() -> Self {
        Self {
            index: HashMap::new(),
            slab: Vec::new(),
        }
    }
}

impl<T> Primary<T> {
    fn contains_key(&self, k: &[u8; 16]) -> bool {
        self.index.contains_key(k)
    }

    fn get(&self, k: &[u8; 16]) -> Option<&Stored<T>> {
        self.slab.get(*self.index.get(k)? as usize)
    }

    fn get_mut(&mut self, k: &[u8; 16]) -> Option<&mut Stored<T>> {
        let i = *self.index.get(k)? as usize;
        self.slab.get_mut(i)
    }

    /// Insert a record for a key that is not present (callers check first).
    fn insert(&mut self, k: [u8; 16], v: Stored<T>) {
        if let Some(st) = self.get_mut(&k) {
            *st = v;
            return;
        }
        // At most 2^32 records per shard: beyond that the cache is far past any deployment.
        let slot = u32::try_from(self.slab.len()).unwrap_or(u32::MAX);
        self.index.insert(k, slot);
        self.slab.push(v);
    }

    fn remove(&mut self, k: &[u8; 16]) -> Option<Stored<T>> {
        let i = self.index.remove(k)? as usize;
        if i >= self.slab.len() {
            return None;
        }
        let st = self.slab.swap_remove(i);
        if let Some(moved) = self.slab.get(i) {
            let key = moved.binding.home_address.octets();
            self.index.insert(key, i as u32);
        }
        Some(st)
    }

    fn values(&self) -> impl Iterator<Item = &Stored<T>> {
        self.slab.iter()
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

/// The binding cache. All methods take `&self`; share it with `Arc`. `T` is an optional
/// payload stored with each binding (the Python layer keeps its `BindingSpec` object there).
pub struct BindingCache<T = ()> {
    by_hoa: Sharded<Primary<T>>,
    by_prefix: Sharded<HashMap<PrefixKey, [u8; 16]>>,
    by_v4: Sharded<HashMap<[u8; 4], [u8; 16]>>,
    by_inbound: Sharded<HashMap<InboundIdx, [u8; 16]>>,
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

    fn owner_conflicts(&self, b: &Binding) -> bool {
        let hoa = b.home_address.octets();
        let pk = (mask(b.home_prefix.octets(), b.prefix_len), b.prefix_len);
        let other = |owner: Option<[u8; 16]>| owner.is_some_and(|o| o != hoa);
        if other(
            self.by_prefix
                .read(shard_of(&pk.0), |m| m.get(&pk).copied()),
        ) {
            return true;
        }
        if let Some(v4) = b.ipv4_home_address {
            let k = v4.octets();
            if other(
                self.by_v4
                    .read(shard_of(&v4.to_ipv6_mapped().octets()), |m| {
                        m.get(&k).copied()
                    }),
            ) {
                return true;
            }
        }
        inbound_keys(b)
            .into_iter()
            .flatten()
            .any(|k| other(self.by_inbound.read(shard_of(&k.0), |m| m.get(&k).copied())))
    }

    fn add_secondary(&self, w: &mut WriterState, b: &Binding) {
        let hoa = b.home_address.octets();
        let pk = (mask(b.home_prefix.octets(), b.prefix_len), b.prefix_len);
        self.by_prefix.write(shard_of(&pk.0), |m| m.insert(pk, hoa));
        let l = usize::from(b.prefix_len);
        w.length_counts[l] += 1;
        if w.length_counts[l] == 1 {
            self.prefix_lengths[l / 64].fetch_or(1 << (l % 64), Ordering::Release);
        }
        if let Some(v4) = b.ipv4_home_address {
            self.by_v4
                .write(shard_of(&v4.to_ipv6_mapped().octets()), |m| {
                    m.insert(v4.octets(), hoa)
                });
        }
        for k in inbound_keys(b).into_iter().flatten() {
            self.by_inbound.write(shard_of(&k.0), |m| m.insert(k, hoa));
        }
    }

    /// Remove `b`'s secondary keys, except those `keep` (the replacement, already added)
    /// also uses: readers never see a stable key vanish during an update.
    fn remove_secondary(&self, w: &mut WriterState, b: &Binding, keep: Option<&Binding>) {
        let pk = (mask(b.home_prefix.octets(), b.prefix_len), b.prefix_len);
        let keep_pk = keep.map(|k| (mask(k.home_prefix.octets(), k.prefix_len), k.prefix_len));
        if keep_pk != Some(pk) {
            self.by_prefix.write(shard_of(&pk.0), |m| m.remove(&pk));
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
    /// `Exists`, `KeyConflict` (prefix / IPv4 HoA / inbound key owned by another binding),
    /// `BadPrefix`. Nothing changes on error.
    pub fn insert_with(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        Self::validate(&b)?;
        let mut w = self.lock_writer();
        let hoa = b.home_address.octets();
        let s = shard_of(&hoa);
        if self.by_hoa.read(s, |m| m.contains_key(&hoa)) {
            return Err(CacheError::Exists);
        }
        if self.owner_conflicts(&b) {
            return Err(CacheError::KeyConflict);
        }
        self.add_secondary(&mut w, &b);
        self.by_hoa.write(s, |m| {
            m.insert(
                hoa,
                Stored {
                    binding: b,
                    counters: AtomicCounters::default(),
                    payload,
                },
            )
        });
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
        let old = self
            .by_hoa
            .read(s, |m| m.get(&hoa).map(|st| st.binding))
            .ok_or(CacheError::NotFound)?;
        if self.owner_conflicts(&b) {
            return Err(CacheError::KeyConflict);
        }
        self.add_secondary(&mut w, &b);
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
    pub fn get_with<R>(&self, hoa: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let key = hoa.octets();
        self.by_hoa.read(shard_of(&key), |m| {
            m.get(&key).map(|st| f(&st.binding, &st.payload))
        })
    }

    /// [`Self::lookup_v6`] with a closure over the binding and payload.
    pub fn lookup_v6_with<R>(&self, dst: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let mut f = Some(f);
        if let Some(r) = self.get_with(dst, |b, p| f.take().map(|f| f(b, p))) {
            return r;
        }
        let hoa = self.lpm_owner(dst.octets())?;
        let f = f?;
        self.get_with(Ipv6Addr::from(hoa), f)
    }

    /// [`Self::lookup_v4`] with a closure over the binding and payload.
    pub fn lookup_v4_with<R>(&self, dst: Ipv4Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let hoa = self
            .by_v4
            .read(shard_of(&dst.to_ipv6_mapped().octets()), |m| {
                m.get(&dst.octets()).copied()
            })?;
        self.get_with(Ipv6Addr::from(hoa), f)
    }

    /// [`Self::lookup_inbound`] with a closure over the binding and payload.
    pub fn lookup_inbound_with<R>(
        &self,
        src: IpAddr,
        key: InboundKey,
        f: impl FnOnce(&Binding, &T) -> R,
    ) -> Option<R> {
        let k = inbound_idx(src, key);
        let hoa = self
            .by_inbound
            .read(shard_of(&k.0), |m| m.get(&k).copied())?;
        self.get_with(Ipv6Addr::from(hoa), f)
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
        if let Some(b) = self.get(dst) {
            return Some(b);
        }
        let hoa = self.lpm_owner(dst.octets())?;
        self.get(Ipv6Addr::from(hoa))
    }

    fn lpm_owner(&self, addr: [u8; 16]) -> Option<[u8; 16]> {
        for word in (0..3).rev() {
            let mut bits = self.prefix_lengths[word].load(Ordering::Acquire);
            while bits != 0 {
                let top = 63 - bits.leading_zeros();
                bits &= !(1u64 << top);
                let len = (word * 64) as u8 + top as u8;
                let k = (mask(addr, len), len);
                if let Some(h) = self.by_prefix.read(shard_of(&k.0), |m| m.get(&k).copied()) {
                    return Some(h);
                }
            }
        }
        None
    }

    /// Outbound lookup of an IPv4 destination (IPv4 home address).
    #[must_use]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<Binding> {
        let hoa = self
            .by_v4
            .read(shard_of(&dst.to_ipv6_mapped().octets()), |m| {
                m.get(&dst.octets()).copied()
            })?;
        self.get(Ipv6Addr::from(hoa))
    }

    /// Inbound lookup: the binding registered from `src` with this key.
    #[must_use]
    pub fn lookup_inbound(&self, src: IpAddr, key: InboundKey) -> Option<Binding> {
        let k = inbound_idx(src, key);
        let hoa = self
            .by_inbound
            .read(shard_of(&k.0), |m| m.get(&k).copied())?;
        self.get(Ipv6Addr::from(hoa))
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
