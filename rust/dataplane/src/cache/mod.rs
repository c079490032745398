//! The Home Agent's binding cache (RFC 6275 §9.1, RFC 5555 §3.1, RFC 3963 prefixes) — also
//! usable as the UE's binding update list. Pure Rust, no clock reads (time is an argument).
//!
//! # Layout
//! * **Records**: one 64-octet cache line per binding (`[AtomicU64; 8]`: HoA, CoA, expiry,
//!   prefix length, sequence, flags, IPv4 HoA, lifetime, SPIs, flag bits and a version), in
//!   one dense array addressed by a 32-bit record id. The home network prefix is not stored:
//!   it is the HoA masked to the prefix length (insert checks that they agree). Per-binding
//!   traffic counters live in a parallel array (touched only by `count`/`counters`), the
//!   caller's payloads `T` in a third one.
//! * **Indexes**, one per key kind — HoA, /64 home network prefix, other prefix lengths,
//!   IPv4 HoA, inbound (CoA, SPI | UDP port | plain): compact open-addressing tables of
//!   4-octet slots (hash tag + record id, 15 per cache line; see [`table`]). A miss reads one
//!   index line, a hit one index line and the record line. Longest-prefix match probes the
//!   prefix lengths in use, longest first (a bitmap of lengths).
//! * A /64 binding has no HoA key (session 12): an exact-HoA lookup probes the /64 index
//!   with the HoA's upper half and checks the full HoA in the record (the /64 index holds
//!   one binding per /64), then the HoA index only while it holds keys (those of bindings
//!   of other prefix lengths; see [`BindingCache::find_hoa`]). So a /64 binding has three or
//!   four keys: /64 prefix, IPv4 HoA if any, inbound UDP-or-plain, inbound SPI if any.
//! * Records, counters and big tables are anonymous mappings advised onto 2 MiB transparent
//!   huge pages (see [`mem`]): with 1 M bindings the TLB, not the caches, is what random
//!   lookups pay for on a virtualised host.
//!
//! # Concurrency
//! Readers take no lock: index slots are atomics, and a record is read with a per-record
//! sequence lock (version in word 5: odd while a writer rewrites the record; a reader
//! retries until it reads the same even version before and after). Writers (control
//! plane) are serialised by one mutex. An update writes the new binding into a fresh
//! record, then repoints the keys it keeps in place (one atomic store per slot: readers
//! find a stable key throughout), adds its new keys and removes its old ones, then frees
//! the old record; a reader that reached the old record after that retries its probe. So a
//! reader sees either the old or the new binding. An update that moves a HoA between the
//! /64 and HoA indexes (prefix length 64 <-> other) keeps a move sequence odd meanwhile,
//! and an exact-HoA miss is final only between two equal even reads of it (seqlock
//! reader). The `*_with` lookups, which hand the
//! caller's payload by reference, hold the read lock of the payload's stripe (1 of 64)
//! while the closure runs; writers take it only to swap a record and its payload.

#![deny(unsafe_code)]

mod lean;
mod mem;
mod table;

use core::fmt;
use core::hash::BuildHasher;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};

use mem::{prefetch, Line, Region};
use table::{Probe, Spot, Table, Writer};

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

/// A placeholder binding (unspecified addresses, zero lifetime): fills the batch insert's
/// fixed-size buffer before the real bindings are copied in.
const EMPTY_BINDING: Binding = Binding {
    home_address: Ipv6Addr::UNSPECIFIED,
    home_prefix: Ipv6Addr::UNSPECIFIED,
    prefix_len: 0,
    ipv4_home_address: None,
    care_of: CareOf::V6(Ipv6Addr::UNSPECIFIED),
    encapsulation: Encapsulation::IpInIpv6,
    lifetime: 0.0,
    expires_at: Instant(0),
    sequence: 0,
    flags: 0,
    sa_in: None,
    sa_out: None,
};

/// Per-binding traffic counters (packets/octets towards and from the UE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindingCounters {
    pub packets_to_ue: u64,
    pub bytes_to_ue: u64,
    pub packets_from_ue: u64,
    pub bytes_from_ue: u64,
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

/// Record ids are below 2^26 (64 M bindings).
const MAX_RECORDS: usize = 1 << 26;
const PAYLOAD_STRIPES: usize = 64;

/// [`BindingCache`]'s exact-HoA word (session 12): bits 0-31 count the bindings with a key
/// in the HoA index (prefix length not 64), bits 32-63 are a move sequence, odd while an
/// update moves a binding's HoA between the HoA index and the /64 index.
const HOA_COUNT: u64 = 0xffff_ffff;
const HOA_MOVING: u64 = 1 << 32;

type Rec = Line<[AtomicU64; 8]>;

/// A reader's wait for a writer to finish (a record rewrite, a HoA move between indexes):
/// spin for the first hundred rounds, then yield the CPU each round.
#[inline]
fn back_off(spins: &mut u32) {
    *spins += 1;
    if *spins > 100 {
        std::thread::yield_now();
    } else {
        core::hint::spin_loop();
    }
}

// Record word 5: sequence (bits 0-15), flags (16-31), meta (32-39), version (40-63).
const META_SHIFT: u32 = 32;
const VER_SHIFT: u32 = 40;
const VER_MASK: u64 = 0xff_ffff;
const M_ENCAP: u64 = 0b11;
const M_COA_V4: u64 = 1 << 2;
const M_V4HOA: u64 = 1 << 3;
const M_PORT: u64 = 1 << 4;
const M_SA_IN: u64 = 1 << 5;
const M_SA_OUT: u64 = 1 << 6;
const M_LIVE: u64 = 1 << 7;
/// Expiry is kept in 56 bits of microseconds (2284 years); the top value reads as "never"
/// (`u64::MAX`, what `Instant::from_secs_f64(inf)` gives).
const EXP_MAX: u64 = (1 << 56) - 1;

#[inline]
fn mask128(v: u128, len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        v & (u128::MAX << (128 - u32::from(len.min(128))))
    }
}

/// [`mask128`]'s mask without a branch: `len` 0 gives no bits, 128 and above all 128
/// (`checked_shr` past 127 gives `None`, read as zero before the complement; one 128-bit
/// shift, not two 64-bit halves: session 11, 7 instructions fewer per decode).
#[inline(always)]
fn prefix_mask(len: u8) -> u128 {
    !u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)
}

fn encode(b: &Binding) -> [u64; 8] {
    let hoa = u128::from(b.home_address);
    let mut meta = M_LIVE
        | match b.encapsulation {
            Encapsulation::IpInIpv6 => 0,
            Encapsulation::IpInIpv4 => 1,
            Encapsulation::UdpIpv4 => 2,
        };
    let (c2, c3) = match b.care_of {
        CareOf::V6(a) => {
            let v = u128::from(a);
            ((v >> 64) as u64, v as u64)
        }
        CareOf::V4 { addr, port } => {
            meta |= M_COA_V4 | if port.is_some() { M_PORT } else { 0 };
            (
                0,
                (u64::from(u32::from(addr)) << 16) | u64::from(port.unwrap_or(0)),
            )
        }
    };
    if b.ipv4_home_address.is_some() {
        meta |= M_V4HOA;
    }
    if b.sa_in.is_some() {
        meta |= M_SA_IN;
    }
    if b.sa_out.is_some() {
        meta |= M_SA_OUT;
    }
    [
        (hoa >> 64) as u64,
        hoa as u64,
        c2,
        c3,
        (b.expires_at.0.min(EXP_MAX) << 8) | u64::from(b.prefix_len),
        u64::from(b.sequence) | (u64::from(b.flags) << 16) | (meta << META_SHIFT),
        (u64::from(b.ipv4_home_address.map_or(0, u32::from)) << 32)
            | u64::from(b.lifetime.to_bits()),
        (u64::from(b.sa_in.unwrap_or(0)) << 32) | u64::from(b.sa_out.unwrap_or(0)),
    ]
}

#[inline]
fn decode(w: &[u64; 8]) -> Option<Binding> {
    let v = BindingView::of(w);
    v.live().then(|| v.binding())
}

/// A binding as its record holds it (eight words), decoded field by field on demand.
///
/// What [`BindingCache::get_view`] and the other `*_view` lookups return: a lookup that
/// needs a few fields (the forwarding path: care-of address, encapsulation, outbound SA)
/// copies the record's words and decodes only those, so little work waits on the record's
/// memory read and consecutive lookups overlap in the CPU. [`Self::binding`] decodes all.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BindingView([u64; 8]);

impl fmt::Debug for BindingView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.binding().fmt(f)
    }
}

impl From<BindingView> for Binding {
    fn from(v: BindingView) -> Self {
        v.binding()
    }
}

impl BindingView {
    /// The view of record words `w` (without the record's version bits).
    #[inline(always)]
    fn of(w: &[u64; 8]) -> Self {
        let mut w = *w;
        w[5] &= !(VER_MASK << VER_SHIFT);
        Self(w)
    }

    #[inline(always)]
    fn meta(&self) -> u64 {
        (self.0[5] >> META_SHIFT) & 0xff
    }

    #[inline(always)]
    fn live(&self) -> bool {
        self.meta() & M_LIVE != 0
    }

    /// Every field, as [`BindingCache::get`] returns them.
    #[must_use]
    #[inline]
    pub fn binding(&self) -> Binding {
        let mut b = self.binding_v6_coa();
        self.fix_care_of(&mut b);
        b
    }

    /// [`Self::binding`] with the care-of words read as an IPv6 address whatever the
    /// record's kind, for [`Self::fix_care_of`] to correct: shifts, masks and selects, no
    /// branch. The batch lookups write this into the answer's place and correct it there,
    /// so that the two kinds of care-of address are not merged in registers (which costs
    /// the compiler some thirty shift and spill instructions per binding).
    #[inline(always)]
    fn binding_v6_coa(&self) -> Binding {
        let w = &self.0;
        let hoa = (u128::from(w[0]) << 64) | u128::from(w[1]);
        let plen = w[4] as u8;
        Binding {
            home_address: Ipv6Addr::from(hoa),
            home_prefix: Ipv6Addr::from(hoa & prefix_mask(plen)),
            prefix_len: plen,
            ipv4_home_address: self.ipv4_home_address(),
            care_of: CareOf::V6(Ipv6Addr::from((u128::from(w[2]) << 64) | u128::from(w[3]))),
            encapsulation: self.encapsulation(),
            lifetime: self.lifetime(),
            expires_at: self.expires_at(),
            sequence: self.sequence(),
            flags: self.flags(),
            sa_in: self.sa_in(),
            sa_out: self.sa_out(),
        }
    }

    /// Correct [`Self::binding_v6_coa`]'s care-of address for an IPv4 one.
    #[inline(always)]
    fn fix_care_of(&self, b: &mut Binding) {
        if self.meta() & M_COA_V4 != 0 {
            b.care_of = self.care_of();
        }
    }

    #[must_use]
    #[inline]
    pub fn home_address(&self) -> Ipv6Addr {
        Ipv6Addr::from((u128::from(self.0[0]) << 64) | u128::from(self.0[1]))
    }

    /// The home network prefix (the home address masked to the prefix length).
    #[must_use]
    #[inline]
    pub fn home_prefix(&self) -> Ipv6Addr {
        let hoa = (u128::from(self.0[0]) << 64) | u128::from(self.0[1]);
        Ipv6Addr::from(hoa & prefix_mask(self.prefix_len()))
    }

    #[must_use]
    #[inline]
    pub fn prefix_len(&self) -> u8 {
        self.0[4] as u8
    }

    #[must_use]
    #[inline]
    pub fn ipv4_home_address(&self) -> Option<Ipv4Addr> {
        (self.meta() & M_V4HOA != 0).then_some(Ipv4Addr::from((self.0[6] >> 32) as u32))
    }

    #[must_use]
    #[inline]
    pub fn care_of(&self) -> CareOf {
        let (meta, w) = (self.meta(), &self.0);
        if meta & M_COA_V4 != 0 {
            CareOf::V4 {
                addr: Ipv4Addr::from((w[3] >> 16) as u32),
                port: (meta & M_PORT != 0).then_some(w[3] as u16),
            }
        } else {
            CareOf::V6(Ipv6Addr::from((u128::from(w[2]) << 64) | u128::from(w[3])))
        }
    }

    #[must_use]
    #[inline]
    pub fn encapsulation(&self) -> Encapsulation {
        // A table, not a branch (kind 3 is never written; it reads as UDP).
        const KINDS: [Encapsulation; 4] = [
            Encapsulation::IpInIpv6,
            Encapsulation::IpInIpv4,
            Encapsulation::UdpIpv4,
            Encapsulation::UdpIpv4,
        ];
        KINDS[(self.meta() & M_ENCAP) as usize]
    }

    #[must_use]
    #[inline]
    pub fn lifetime(&self) -> f32 {
        f32::from_bits(self.0[6] as u32)
    }

    #[must_use]
    #[inline]
    pub fn expires_at(&self) -> Instant {
        // EXP_MAX reads as "never" (all ones), without a branch: `exp` has 56 bits, so
        // `exp + 1` reaches bit 56 only for EXP_MAX.
        let exp = self.0[4] >> 8;
        Instant(exp | ((exp + 1) >> 56).wrapping_neg())
    }

    #[must_use]
    #[inline]
    pub fn sequence(&self) -> u16 {
        self.0[5] as u16
    }

    #[must_use]
    #[inline]
    pub fn flags(&self) -> u16 {
        (self.0[5] >> 16) as u16
    }

    #[must_use]
    #[inline]
    pub fn sa_in(&self) -> Option<u32> {
        (self.meta() & M_SA_IN != 0).then_some((self.0[7] >> 32) as u32)
    }

    #[must_use]
    #[inline]
    pub fn sa_out(&self) -> Option<u32> {
        (self.meta() & M_SA_OUT != 0).then_some(self.0[7] as u32)
    }
}

/// A key of one index. Tables: 0 HoA, 1 /64 prefix, 2 other prefixes, 3 IPv4 HoA, 4 inbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Hoa(u128),
    P64(u64),
    Pfx(u128, u8),
    V4(u32),
    /// (outer source as IPv6 or IPv4-mapped, kind 0 plain / 1 SPI / 2 UDP, SPI or port)
    In(u128, u8, u32),
}

const TABLES: usize = 5;

impl Key {
    #[inline]
    fn table(self) -> usize {
        match self {
            Self::Hoa(_) => 0,
            Self::P64(_) => 1,
            Self::Pfx(..) => 2,
            Self::V4(_) => 3,
            Self::In(..) => 4,
        }
    }

    #[inline]
    fn owned_by(self, b: &Binding) -> bool {
        match self {
            Self::Hoa(a) => u128::from(b.home_address) == a,
            Self::P64(p) => b.prefix_len == 64 && (u128::from(b.home_address) >> 64) as u64 == p,
            Self::Pfx(p, len) => {
                b.prefix_len == len && mask128(u128::from(b.home_address), len) == p
            }
            Self::V4(a) => b.ipv4_home_address.map(u32::from) == Some(a),
            Self::In(..) => keys_of(b)[3..].contains(&Some(self)),
        }
    }
}

#[inline]
fn prefix_key(a: u128, len: u8) -> Key {
    if len == 64 {
        Key::P64((a >> 64) as u64)
    } else {
        Key::Pfx(mask128(a, len), len)
    }
}

fn addr128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V6(a) => u128::from(a),
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
    }
}

#[inline]
fn inbound_key(src: IpAddr, key: InboundKey) -> Key {
    let (kind, val) = match key {
        InboundKey::Plain => (0, 0),
        InboundKey::Spi(s) => (1, s),
        InboundKey::UdpPort(p) => (2, u32::from(p)),
    };
    Key::In(addr128(src), kind, val)
}

/// Every key of a binding: HoA, prefix, IPv4 HoA, inbound UDP-or-plain, inbound SPI. A /64
/// binding has no HoA key (session 12): its exact-HoA lookups go through its /64 key, the
/// only one of its /64 (see [`BindingCache::find_hoa`]).
#[inline(always)]
fn keys_of(b: &Binding) -> [Option<Key>; 5] {
    let hoa = u128::from(b.home_address);
    let coa = b.care_of.addr();
    let first = match b.care_of {
        CareOf::V4 { port: Some(p), .. } => InboundKey::UdpPort(p),
        _ => InboundKey::Plain,
    };
    [
        (b.prefix_len != 64).then_some(Key::Hoa(hoa)),
        Some(prefix_key(hoa, b.prefix_len)),
        b.ipv4_home_address.map(|a| Key::V4(u32::from(a))),
        Some(inbound_key(coa, first)),
        b.sa_in.map(|s| inbound_key(coa, InboundKey::Spi(s))),
    ]
}

/// Whether record words `w` are a live binding owning `k` (the common keys checked on the
/// raw words, without decoding; inlined into every lookup, the inbound case stays out of
/// line).
#[inline(always)]
fn owns(k: Key, w: &[u64; 8]) -> bool {
    if (w[5] >> META_SHIFT) & M_LIVE == 0 {
        return false;
    }
    let hoa = (u128::from(w[0]) << 64) | u128::from(w[1]);
    let plen = w[4] as u8;
    match k {
        Key::Hoa(a) => hoa == a,
        Key::P64(p) => plen == 64 && w[0] == p,
        Key::Pfx(p, len) => plen == len && mask128(hoa, len) == p,
        Key::V4(a) => (w[5] >> META_SHIFT) & M_V4HOA != 0 && (w[6] >> 32) as u32 == a,
        Key::In(..) => owns_inbound(k, w),
    }
}

#[inline(never)]
fn owns_inbound(k: Key, w: &[u64; 8]) -> bool {
    decode(w).is_some_and(|b| k.owned_by(&b))
}

/// Bit `j` set for each `None` of `dst` (at most 32: a batch chunk).
#[inline(always)]
fn nones<O>(dst: &[Option<O>]) -> u32 {
    dst.iter()
        .take(32)
        .enumerate()
        .fold(0, |m, (j, d)| m | u32::from(d.is_none()) << j)
}

#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// The binding cache. All methods take `&self`; share it with `Arc`. `T` is an optional
/// payload stored with each binding (the Python layer keeps its `BindingSpec` object there).
pub struct BindingCache<T = ()> {
    recs: Region<Rec>,
    counters: Region<[AtomicU64; 4]>,
    /// Record ids handed out so far (every id below is in use or on the free list).
    high: AtomicUsize,
    /// Payload of record `id` at `[id % 64][id / 64]`; `Some` exactly while the record lives.
    payload: Box<[RwLock<Vec<Option<T>>>]>,
    tables: [Table; TABLES],
    /// Bit `l` set when some binding has a prefix of length `l` (0..=128).
    prefix_lengths: [AtomicU64; 3],
    /// Keys in the HoA index and the move sequence (see [`HOA_COUNT`], [`Self::find_hoa`]).
    hoa: AtomicU64,
    writer: Mutex<WriterState>,
    seed: [u64; 3],
    len: AtomicUsize,
}

struct WriterState {
    length_counts: [u32; 129],
    /// Freed record ids, reused oldest first.
    free: VecDeque<u32>,
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
    /// Add many bindings (no payload). See [`BindingCache::insert_batch_with`].
    pub fn insert_batch(&self, bs: &[Binding], out: &mut Vec<Result<(), CacheError>>) {
        // The bindings are read in place (no copy per group): see `insert_group`.
        let mut w = self.lock_writer();
        for (k, group) in bs.chunks(INSERT_AHEAD).enumerate() {
            // Session 13: the next group's bindings (16: about 24 lines) are hinted to the CPU
            // before this group is placed: the lean kernel reads all of a group's bindings
            // at its start, and in the bench's insert row the last ones came from DRAM
            // (85 % of reads) with the hardware's own prefetcher behind.
            if let Some(next) = bs.get((k + 1) * INSERT_AHEAD..) {
                mem::prefetch_lines(&next[..next.len().min(INSERT_AHEAD)]);
            }
            self.insert_group(&mut w, group, |_| Some(()), out);
        }
    }

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

/// How many lookups a batch call keeps in flight (prefetched ahead).
const BATCH: usize = 32;
/// How many bindings a batch insert plans and fetches ahead (up to 5 index lines and
/// filter words, a record and a counters line each).
const INSERT_AHEAD: usize = 16;

/// Every key of a binding with its hash (HoA, prefix, IPv4 HoA, inbound keys).
type HashedKeys = [Option<(Key, u64)>; 5];

/// For one key of [`HashedKeys`]: the writer's view of its table and its spot there.
type PlannedKey<'a> = Option<(Writer<'a>, Spot)>;
type Planned<'a> = [PlannedKey<'a>; 5];

impl<T> BindingCache<T> {
    #[must_use]
    pub fn new() -> Self {
        let rs = std::collections::hash_map::RandomState::new();
        Self {
            // Huge pages from the 32 768th record on (2 MiB of records or counters).
            recs: Region::new(MAX_RECORDS, 1 << 15),
            counters: Region::new(MAX_RECORDS, 1 << 16),
            high: AtomicUsize::new(0),
            payload: (0..PAYLOAD_STRIPES)
                .map(|_| RwLock::new(Vec::new()))
                .collect(),
            tables: [(); TABLES].map(|()| Table::new()),
            prefix_lengths: Default::default(),
            hoa: AtomicU64::new(0),
            writer: Mutex::new(WriterState {
                length_counts: [0; 129],
                free: VecDeque::new(),
            }),
            seed: [rs.hash_one(1u8), rs.hash_one(2u8), rs.hash_one(3u8) | 1],
            len: AtomicUsize::new(0),
        }
    }

    /// Number of bindings.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Seeded hash of a key; bit 0 is the inbound table's class bit (SPI keys vs the rest).
    #[inline(always)]
    fn hash(&self, k: Key) -> u64 {
        let [s0, s1, s2] = self.seed;
        let (a, b, c) = match k {
            Key::Hoa(v) => ((v >> 64) as u64, v as u64, 0),
            Key::P64(p) => (p, 0, 64),
            Key::Pfx(v, len) => ((v >> 64) as u64, v as u64, u64::from(len)),
            Key::V4(a) => (u64::from(a), 0, 1 << 40),
            Key::In(v, kind, val) => (
                (v >> 64) as u64,
                v as u64,
                (u64::from(kind) << 32) | u64::from(val),
            ),
        };
        let h = fold(fold(a ^ s0, b ^ s1) ^ c, s2);
        match k {
            Key::In(_, kind, _) => (h & !1) | u64::from(kind == 1),
            _ => h,
        }
    }

    #[inline]
    fn rec(&self, id: u32) -> Option<&[AtomicU64; 8]> {
        self.recs.as_slice().get(id as usize).map(|l| &l.0)
    }

    /// Read record `id` consistently (sequence lock; never waits for a lock, only retries
    /// while a writer is rewriting this very record).
    #[inline(always)]
    fn load(&self, id: u32) -> Option<[u64; 8]> {
        let r = self.rec(id)?;
        Some(Self::read_once(r).unwrap_or_else(|| Self::read_contended(r)))
    }

    /// One attempt at a consistent read of a record: None while a writer rewrites it.
    #[inline(always)]
    fn read_once(r: &[AtomicU64; 8]) -> Option<[u64; 8]> {
        let v = r[5].load(Ordering::Acquire);
        if (v >> VER_SHIFT) & 1 != 0 {
            return None;
        }
        let w = [
            r[0].load(Ordering::Relaxed),
            r[1].load(Ordering::Relaxed),
            r[2].load(Ordering::Relaxed),
            r[3].load(Ordering::Relaxed),
            r[4].load(Ordering::Relaxed),
            v,
            r[6].load(Ordering::Relaxed),
            r[7].load(Ordering::Relaxed),
        ];
        fence(Ordering::Acquire);
        (r[5].load(Ordering::Relaxed) == v).then_some(w)
    }

    /// The read retried while a writer is rewriting the record (out of the lookup path).
    #[cold]
    #[inline(never)]
    fn read_contended(r: &[AtomicU64; 8]) -> [u64; 8] {
        let mut spins = 0u32;
        loop {
            if let Some(w) = Self::read_once(r) {
                return w;
            }
            back_off(&mut spins);
        }
    }

    /// Writer: rewrite record `id` (version odd while the words change).
    fn store(&self, id: u32, w: [u64; 8]) {
        let Some(r) = self.rec(id) else {
            return;
        };
        let old = r[5].load(Ordering::Relaxed);
        let ver = (old >> VER_SHIFT) & VER_MASK;
        let keep = old & !(VER_MASK << VER_SHIFT);
        r[5].store(
            keep | (((ver + 1) & VER_MASK) << VER_SHIFT),
            Ordering::Relaxed,
        );
        fence(Ordering::Release);
        for i in [0, 1, 2, 3, 4, 6, 7] {
            r[i].store(w[i], Ordering::Relaxed);
        }
        let next = w[5] & !(VER_MASK << VER_SHIFT);
        r[5].store(
            next | (((ver + 2) & VER_MASK) << VER_SHIFT),
            Ordering::Release,
        );
    }

    /// The live record owning `k`: its id and words (lock-free). Inlined into each lookup,
    /// where the key kind is known, so hashing and the ownership check specialise.
    #[inline(always)]
    fn find_raw(&self, k: Key) -> Option<(u32, [u64; 8])> {
        match k {
            Key::Hoa(a) => self.find_hoa(a),
            _ => self.find_raw_h(k, self.hash(k)),
        }
    }

    /// The live record of HoA `a` (session 12). A /64 binding has no key in the HoA index:
    /// the /64 index, which holds one binding per /64, is probed with `a`'s upper half and
    /// the record it names checked for the full HoA; the HoA index (the other prefix
    /// lengths) only when it holds keys, so with none a miss costs the /64 index's filter
    /// word alone.
    ///
    /// An update that changes a prefix length 64 <-> other moves the binding's HoA between
    /// the two indexes (the new key added, then the old removed), so a probe of one then
    /// the other can miss both: the destination before the add, the source after the
    /// removal. Such an update makes the move sequence odd before its first key change and
    /// even again after its last ([`Self::hoa_mark`]), so an answer "absent" read between
    /// two loads of the word that show the same even sequence met no move (seqlock reader)
    /// and is final; otherwise the lookup is retried. A HoA-index count of 0 at the first
    /// load means no binding had a HoA key then; one that gets it later either was not
    /// present at the start (an insert) or moved (caught by the sequence).
    #[inline(always)]
    fn find_hoa(&self, a: u128) -> Option<(u32, [u64; 8])> {
        let s = self.hoa.load(Ordering::Acquire);
        let p = (a >> 64) as u64;
        let t = &self.tables[1];
        let h = self.hash(Key::P64(p));
        // Whether the /64 index surely has no binding of HoA `a`.
        let absent = match t.snap() {
            Some(sn) => match sn.first(h) {
                // Final unless the table or its filter was replaced meanwhile (their old
                // arrays read as zeros).
                Probe::Absent => t.unchanged(&sn),
                Probe::Candidate(id) => match self.load(id) {
                    Some(w) if owns(Key::Hoa(a), &w) => return Some((id, w)),
                    // The live /64 binding of this /64 (one per /64) has another HoA.
                    Some(w) => owns(Key::P64(p), &w),
                    None => false,
                },
                Probe::Unsure => false,
            },
            None => false,
        };
        // Final at once while the HoA index is empty and no move overlapped the probe.
        if absent && s & (HOA_COUNT | HOA_MOVING) == 0 && self.hoa_settled(s) {
            return None;
        }
        self.find_hoa_rest(a, s, absent)
    }

    /// Whether no move between the HoA and /64 indexes ran since the HoA word read `s`
    /// (see [`Self::find_hoa`]; the probes' reads are ordered before the re-read).
    #[inline(always)]
    fn hoa_settled(&self, s: u64) -> bool {
        fence(Ordering::Acquire);
        s & HOA_MOVING == 0 && (self.hoa.load(Ordering::Relaxed) ^ s) >> 32 == 0
    }

    /// The rest of [`Self::find_hoa`] (out of the lookup path), the HoA word read as `s`
    /// before the short probe: the /64 index's general probe unless the short one found
    /// it `absent`, the HoA index if it holds keys, and, while a move may have hidden the
    /// binding from both, both again (a move is a few writer steps).
    #[cold]
    #[inline(never)]
    fn find_hoa_rest(&self, a: u128, mut s: u64, absent: bool) -> Option<(u32, [u64; 8])> {
        let mut probe64 = !absent;
        let mut spins = 0u32;
        loop {
            if probe64 {
                let h64 = self.hash(Key::P64((a >> 64) as u64));
                if let Some(r) = self.find_raw_slow(1, Key::Hoa(a), h64) {
                    return Some(r);
                }
            }
            probe64 = true;
            if s & HOA_MOVING == 0 {
                if s & HOA_COUNT != 0 {
                    if let Some(r) = self.find_raw_h(Key::Hoa(a), self.hash(Key::Hoa(a))) {
                        return Some(r);
                    }
                }
                if self.hoa_settled(s) {
                    return None;
                }
            } else {
                back_off(&mut spins);
            }
            s = self.hoa.load(Ordering::Acquire);
        }
    }

    /// Writer: add `seq` to the move sequence and `count` to the HoA-index count (see
    /// [`Self::find_hoa`]): the count goes up before a HoA key is placed and down after one
    /// is removed; a move makes the sequence odd before its first key change, even after.
    #[inline(always)]
    fn hoa_mark(&self, seq: u64, count: i32) {
        let v = self.hoa.load(Ordering::Relaxed);
        let c = (v as u32).wrapping_add_signed(count);
        // Release: ordered before the slot stores that follow (which are release stores).
        self.hoa.store(
            (v & !HOA_COUNT).wrapping_add(seq << 32) | u64::from(c),
            Ordering::Release,
        );
    }

    /// Writer: whether the HoA index holds keys.
    #[inline(always)]
    fn hoa_keys(&self) -> bool {
        self.hoa.load(Ordering::Relaxed) & HOA_COUNT != 0
    }

    /// [`Self::find_raw`] with the key's hash already computed. The common cases (the
    /// filter rules the key out; the key's tag in its home bucket names its record; no tag
    /// and no overflow) are decided inline with a handful of instructions, the rest by the
    /// general probe out of line.
    #[inline(always)]
    fn find_raw_h(&self, k: Key, h: u64) -> Option<(u32, [u64; 8])> {
        let t = &self.tables[k.table()];
        if let Some(s) = t.snap() {
            match s.first(h) {
                // Final unless the table or its filter was replaced meanwhile (their old
                // arrays read as zeros).
                Probe::Absent if t.unchanged(&s) => return None,
                Probe::Candidate(id) => {
                    if let Some(w) = self.load(id).filter(|w| owns(k, w)) {
                        return Some((id, w));
                    }
                }
                _ => {}
            }
        }
        self.find_raw_slow(k.table(), k, h)
    }

    /// The general probe of [`Self::find_raw_h`] in table `t` for the record owning `k`
    /// (`k`'s own table but for an exact HoA in the /64 index, see [`Self::find_hoa`]):
    /// every bucket on the key's probe path, retried across a table replacement or a record
    /// freed meanwhile.
    #[inline(never)]
    fn find_raw_slow(&self, t: usize, k: Key, h: u64) -> Option<(u32, [u64; 8])> {
        self.tables[t].find(h, |id| {
            let w = self.load(id)?;
            owns(k, &w).then_some((id, w))
        })
    }

    /// The live record owning `k` and its binding (lock-free).
    #[inline(always)]
    fn find(&self, k: Key) -> Option<(u32, Binding)> {
        let (id, w) = self.find_raw(k)?;
        Some((id, decode(&w)?))
    }

    /// The binding owning `k` with its payload, under the payload stripe's read lock (so the
    /// record cannot change while `f` runs). `first`: the record a lock-free probe found.
    fn with_payload<R>(
        &self,
        k: Key,
        first: Option<u32>,
        f: impl FnOnce(&Binding, &T) -> R,
    ) -> Option<R> {
        let mut id = match first {
            Some(id) => id,
            None => self.find_raw(k)?.0,
        };
        for _ in 0..8 {
            {
                let stripe = self.payload[id as usize % PAYLOAD_STRIPES]
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                let b = self
                    .load(id)
                    .filter(|w| owns(k, w))
                    .as_ref()
                    .and_then(decode);
                let p = stripe
                    .get(id as usize / PAYLOAD_STRIPES)
                    .and_then(Option::as_ref);
                if let (Some(b), Some(p)) = (b, p) {
                    return Some(f(&b, p));
                }
            }
            // A writer replaced or freed the record meanwhile: probe again.
            id = self.find_raw(k)?.0;
        }
        None
    }

    /// Longest-prefix match over the prefix lengths in use, longest first.
    fn lpm(&self, a: u128) -> Option<(Key, u32, [u64; 8])> {
        for word in (0..3).rev() {
            let mut bits = self.prefix_lengths[word].load(Ordering::Acquire);
            while bits != 0 {
                let top = 63 - bits.leading_zeros();
                bits &= !(1u64 << top);
                let k = prefix_key(a, (word * 64) as u8 + top as u8);
                if let Some((id, w)) = self.find_raw(k) {
                    return Some((k, id, w));
                }
            }
        }
        None
    }

    fn validate(b: &Binding) -> Result<(), CacheError> {
        if b.prefix_len > 128
            || mask128(u128::from(b.home_address), b.prefix_len)
                != mask128(u128::from(b.home_prefix), b.prefix_len)
        {
            return Err(CacheError::BadPrefix);
        }
        Ok(())
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Start fetching the home buckets (and filter words) of `keys` together: their probes
    /// follow, so the memory latencies overlap. Called before taking the writer lock (a
    /// prefetch is only a hint), so the fetches also overlap the lock hand-over.
    fn prefetch_keys(&self, keys: &[Option<Key>]) {
        for k in keys.iter().flatten() {
            self.tables[k.table()].prefetch(self.hash(*k));
        }
    }

    /// Writer: start fetching the record and counters line the next record id will use.
    fn prefetch_next_record(&self, w: &WriterState) {
        let next = w
            .free
            .front()
            .map_or(self.high.load(Ordering::Relaxed), |&id| id as usize);
        if let Some(r) = self.recs.as_slice().get(next) {
            prefetch(r);
        }
        if let Some(c) = self.counters.as_slice().get(next) {
            prefetch(c);
        }
    }

    /// Writer: a fresh record id (oldest freed first), or None when 2^26 are in use.
    fn alloc_id(&self, w: &mut WriterState) -> Option<u32> {
        if let Some(id) = w.free.pop_front() {
            return Some(id);
        }
        let id = self.high.load(Ordering::Relaxed);
        if id >= MAX_RECORDS {
            return None;
        }
        self.payload[id % PAYLOAD_STRIPES]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(None);
        self.high.store(id + 1, Ordering::Release);
        Some(id as u32)
    }

    /// Writer: make room in every table for `keys` (growing, or widening record ids, by a
    /// rebuild from the live records). False if a table cannot grow (never below 2^26).
    fn ensure_room(&self, keys: &[Option<Key>]) -> bool {
        let mut extra = [0usize; TABLES];
        for k in keys.iter().flatten() {
            extra[k.table()] += 1;
        }
        self.ensure_room_for(extra)
    }

    /// Writer: make room for `extra[t]` more keys in each table `t` (see
    /// [`Self::ensure_room`]).
    fn ensure_room_for(&self, extra: [usize; TABLES]) -> bool {
        self.ensure_room_ids(extra, self.high.load(Ordering::Relaxed))
    }

    /// Writer: [`Self::ensure_room_for`] with record ids below `ids` (a batch insert's
    /// bound on the ids it may hand out).
    fn ensure_room_ids(&self, extra: [usize; TABLES], ids: usize) -> bool {
        for ((t, table), extra) in self.tables.iter().enumerate().zip(extra) {
            // A table that gets no key may keep narrower ids until it does (its next insert
            // or repointing comes through here with the record ids of that time).
            if extra == 0 || !table.needs_rebuild(extra, ids) {
                continue;
            }
            if !table.rebuild(table.len() + extra, ids, self.entries(t, ids)) {
                return false;
            }
        }
        true
    }

    /// Writer: (hash, record id) of every key of table `t` among the live records below
    /// `ids` (records read in id order).
    fn entries(&self, t: usize, ids: usize) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0..ids as u32).flat_map(move |id| {
            let b = self.load(id).as_ref().and_then(decode);
            let ks = b.as_ref().map(keys_of).unwrap_or_default();
            ks.into_iter()
                .flatten()
                .filter(move |k| k.table() == t)
                .map(move |k| (self.hash(k), id))
        })
    }

    /// Writer (after removing keys): rebuild the membership filter of any table whose
    /// removed keys now outnumber its live ones (see [`table`]).
    fn refresh_filters(&self) {
        let ids = self.high.load(Ordering::Relaxed);
        for (t, table) in self.tables.iter().enumerate() {
            if table.filter_stale(ids) {
                table.refresh_filter(self.entries(t, ids).map(|(h, _)| h));
            }
        }
    }

    /// Writer: write record `id` and its payload (counters zeroed when `fresh`).
    fn put(&self, id: u32, b: &Binding, payload: T) {
        let mut stripe = self.payload[id as usize % PAYLOAD_STRIPES]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.store(id, encode(b));
        if let Some(slot) = stripe.get_mut(id as usize / PAYLOAD_STRIPES) {
            *slot = Some(payload);
        }
    }

    /// Writer: mark record `id` dead and take its payload.
    fn kill(&self, id: u32) -> Option<T> {
        let mut stripe = self.payload[id as usize % PAYLOAD_STRIPES]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.store(id, [0; 8]);
        stripe.get_mut(id as usize / PAYLOAD_STRIPES)?.take()
    }

    fn count_length(&self, w: &mut WriterState, len: u8, add: bool) {
        let l = usize::from(len.min(128));
        if add {
            w.length_counts[l] += 1;
            if w.length_counts[l] == 1 {
                self.prefix_lengths[l / 64].fetch_or(1 << (l % 64), Ordering::Release);
            }
        } else {
            w.length_counts[l] = w.length_counts[l].saturating_sub(1);
            if w.length_counts[l] == 0 {
                self.prefix_lengths[l / 64].fetch_and(!(1 << (l % 64)), Ordering::Release);
            }
        }
    }

    /// Add a binding.
    ///
    /// # Errors
    /// `Exists`, `KeyConflict` (prefix / IPv4 HoA / inbound key owned by another binding, or
    /// 2^26 records in use), `BadPrefix`. Nothing changes on error.
    pub fn insert_with(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        let mut w = self.lock_writer();
        // Session 10: the batch insert's lean kernel as a group of one (its ~10 lines hinted
        // together, then checked and placed: the same results and state as below; a bad
        // prefix is refused there); it declines, having done nothing (the payload
        // untouched), when a table must grow or record ids widen first.
        let mut payload = Some(payload);
        let mut result = None;
        if self.insert_group_lean::<1>(
            &mut w,
            core::slice::from_ref(&b),
            &mut |_| payload.take(),
            &mut result,
        ) {
            return result.unwrap_or(Err(CacheError::KeyConflict));
        }
        let payload = payload.ok_or(CacheError::KeyConflict)?;
        Self::validate(&b)?;
        // Each key hashed once; its index lines are fetched as soon as the writer lock
        // says which table generations are current.
        let hashed = self.hashed_keys(&b);
        self.insert_locked(&mut w, &b, &hashed, payload)
    }

    /// The single insert's general path alone (before session 10, every `insert_with`):
    /// the reference the twin tests compare the lean kernel's paths with.
    #[cfg(test)]
    pub(super) fn insert_general(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        Self::validate(&b)?;
        let hashed = self.hashed_keys(&b);
        let mut w = self.lock_writer();
        self.insert_locked(&mut w, &b, &hashed, payload)
    }

    /// Add many bindings (each as [`Self::insert_with`]; `out` receives one result per
    /// binding, in order).
    ///
    /// The writer lock is taken once for the whole call. Bindings go in groups of
    /// [`INSERT_AHEAD`] (see [`Self::insert_group`]): each key is hashed once, room is made
    /// for the whole group at once, every line the group touches is prefetched before any
    /// is read, then each binding is checked and placed in order.
    pub fn insert_batch_with(
        &self,
        items: impl IntoIterator<Item = (Binding, T)>,
        out: &mut Vec<Result<(), CacheError>>,
    ) {
        let mut items = items.into_iter();
        let mut w = self.lock_writer();
        loop {
            let mut bs = [EMPTY_BINDING; INSERT_AHEAD];
            let mut ps: [Option<T>; INSERT_AHEAD] = core::array::from_fn(|_| None);
            let mut n = 0;
            for (b, p) in bs.iter_mut().zip(&mut ps) {
                let Some(item) = items.next() else { break };
                (*b, *p) = (item.0, Some(item.1));
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.insert_group(&mut w, &bs[..n], |j| ps[j].take(), out);
        }
    }

    /// Writer, batch insert (lean kernel): the ids of the `n` records the group will take,
    /// in order (reused ids oldest first from `w.free`, then fresh ones below `ids`, the
    /// high-water mark once the group's fresh ids are counted), for [`Self::prefetch_record`].
    #[inline(always)]
    fn next_record_ids<const N: usize>(&self, w: &WriterState, n: usize, ids: usize) -> [usize; N] {
        let mut out = [usize::MAX; N];
        for (j, o) in out.iter_mut().enumerate().take(n) {
            *o = w.free.get(j).map_or(ids - n + j, |&id| id as usize);
        }
        out
    }

    /// Hint the CPU to fetch the record and counters lines of record `id`.
    #[inline(always)]
    fn prefetch_record(&self, id: usize) {
        mem::prefetch_at(self.recs.as_slice(), id);
        mem::prefetch_at(self.counters.as_slice(), id);
    }

    /// Writer, batch insert: prefetch the record and counters lines of the `n` records the
    /// group will take (reused ids oldest-first from `w.free`, then fresh ones below `ids`,
    /// the high-water mark once the group's fresh ids are counted).
    fn prefetch_next_records(&self, w: &WriterState, n: usize, ids: usize) {
        for id in self
            .next_record_ids::<INSERT_AHEAD>(w, n, ids)
            .into_iter()
            .take(n)
        {
            self.prefetch_record(id);
        }
    }

    /// Writer, batch insert of `bs` (at most [`INSERT_AHEAD`]); `payload(j)` gives the
    /// payload of `bs[j]` once it is inserted (None: the binding is refused).
    ///
    /// 1. Each valid binding's keys (only those it has: no IPv4 HoA or inbound SPI key
    ///    when it has none) are hashed once, into one flat list of planned keys.
    /// 2. Room is made for the whole group at once (a table rebuild, if one is due,
    ///    happens before any of the group is placed), so the tables' writer views and the
    ///    keys' spots stay valid for the whole group.
    /// 3. Every home bucket, filter word, record and counters line of the group is
    ///    prefetched before any is read.
    /// 4. Each binding in order: duplicate check (the filter word decides most keys),
    ///    record and payload under one stripe lock, keys placed. A later binding of the
    ///    group sees the earlier ones.
    fn insert_group(
        &self,
        w: &mut WriterState,
        bs: &[Binding],
        mut payload: impl FnMut(usize) -> Option<T>,
        out: &mut Vec<Result<(), CacheError>>,
    ) {
        // The common case first (see `lean.rs`); it declines, having done nothing, when
        // the group needs growth or wider record ids.
        if self.insert_group_lean::<INSERT_AHEAD>(w, bs, &mut payload, out) {
            return;
        }
        // (table, key slot in `keys_of`, hash) of every key of the group, by binding.
        let mut plan = [(0u8, 0u8, 0u64); INSERT_AHEAD * 5];
        let mut ends = [0u8; INSERT_AHEAD];
        let mut valid = 0u32;
        let mut extra = [0usize; TABLES];
        let mut m = 0usize;
        for (j, (b, end)) in bs.iter().zip(&mut ends).enumerate() {
            if Self::validate(b).is_ok() {
                valid |= 1 << j;
                for (slot, k) in keys_of(b).into_iter().enumerate() {
                    if let (Some(k), Some(e)) = (k, plan.get_mut(m)) {
                        let t = k.table();
                        *e = (t as u8, slot as u8, self.hash(k));
                        if let Some(x) = extra.get_mut(t) {
                            *x = x.wrapping_add(1);
                        }
                        m = m.wrapping_add(1);
                    }
                }
            }
            *end = m as u8;
        }
        let n = bs.len();
        let ids = self.high.load(Ordering::Relaxed) + n;
        let views = match self.group_views(extra, ids) {
            Some(v) => v,
            None => {
                // Tables cannot grow (never below 2^26 records): each refused as the single
                // insert refuses it.
                for (j, b) in bs.iter().enumerate() {
                    let r = match payload(j) {
                        Some(p) => Self::validate(b)
                            .and_then(|()| self.insert_locked(w, b, &self.hashed_keys(b), p)),
                        None => Err(CacheError::KeyConflict),
                    };
                    out.push(r);
                }
                return;
            }
        };
        // Spots, and every line the group touches fetched ahead.
        let mut spots = [None; INSERT_AHEAD * 5];
        for (sp, &(t, _, h)) in spots.iter_mut().zip(&plan).take(m) {
            if let Some(v) = views.get(usize::from(t)) {
                let x = v.spot(h);
                v.prefetch(x);
                *sp = Some(x);
            }
        }
        self.prefetch_next_records(w, n, ids);
        let mut start = 0usize;
        for (j, (b, &end)) in bs.iter().zip(&ends).enumerate() {
            let keys = start..usize::from(end);
            start = usize::from(end);
            if valid & (1 << j) == 0 {
                out.push(Err(CacheError::BadPrefix));
                continue;
            }
            let (Some(plan), Some(spots)) = (plan.get(keys.clone()), spots.get(keys)) else {
                continue;
            };
            out.push(self.place_planned(w, b, || payload(j), plan, spots, &views));
        }
    }

    /// Writer: the writer views of every table with room for `extra[t]` more keys and
    /// record ids below `ids` (rebuilding the tables short of it first). None when a
    /// table cannot grow.
    fn group_views(&self, extra: [usize; TABLES], ids: usize) -> Option<[Writer<'_>; TABLES]> {
        let views = |_: ()| {
            let [a, b, c, d, e] = self.tables.each_ref().map(Table::writer);
            Some([a?, b?, c?, d?, e?])
        };
        let v = views(())?;
        if v.iter()
            .zip(&extra)
            .all(|(v, &x)| x == 0 || v.has_room(x, ids))
        {
            return Some(v);
        }
        if !self.ensure_room_ids(extra, ids) {
            return None;
        }
        // Tables were rebuilt: the views and spots are those of the new generation.
        views(())
    }

    /// Writer, batch insert: check the planned keys of `b` for duplicates, then write its
    /// record and payload and place its keys (room ensured, `views` current).
    #[inline(always)]
    fn place_planned(
        &self,
        w: &mut WriterState,
        b: &Binding,
        payload: impl FnOnce() -> Option<T>,
        plan: &[(u8, u8, u64)],
        spots: &[Option<Spot>],
        views: &[Writer<'_>; TABLES],
    ) -> Result<(), CacheError> {
        // The filter word decides most keys; a tag match reads the record it names.
        let owners = plan.iter().zip(spots).filter_map(|(&(t, slot, _), s)| {
            let (Some(s), Some(v)) = (s, views.get(usize::from(t))) else {
                return None;
            };
            v.find(*s, |id| {
                let k = (*keys_of(b).get(usize::from(slot))?)?;
                let x = self.load(id)?;
                owns(k, &x).then_some(x)
            })
        });
        self.duplicate_verdict(b, owners)?;
        let payload = payload().ok_or(CacheError::KeyConflict)?;
        let id = self.put_new(w, b, payload).ok_or(CacheError::KeyConflict)?;
        if b.prefix_len != 64 {
            self.hoa_mark(0, 1);
        }
        for (&(t, _, _), s) in plan.iter().zip(spots) {
            if let (Some(s), Some(v)) = (s, views.get(usize::from(t))) {
                v.place_fast(*s, id);
            }
        }
        self.count_length(w, b.prefix_len, true);
        self.len
            .store(self.len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Writer, duplicate check of `b` (every insert path): `owners` are the records its keys
    /// lead to (in key order). `Exists` when one of them, or a binding that none of its
    /// keys lead to ([`Self::hoa_elsewhere`]), has `b`'s HoA (a /64 binding's is found
    /// through its /64 key: it has no HoA key); else `KeyConflict` when there is any.
    #[inline(always)]
    fn duplicate_verdict(
        &self,
        b: &Binding,
        owners: impl Iterator<Item = [u64; 8]>,
    ) -> Result<(), CacheError> {
        let hoa = Key::Hoa(u128::from(b.home_address));
        let mut conflict = false;
        for x in owners {
            if owns(hoa, &x) {
                return Err(CacheError::Exists);
            }
            conflict = true;
        }
        if self.hoa_elsewhere(b) {
            return Err(CacheError::Exists);
        }
        if conflict {
            return Err(CacheError::KeyConflict);
        }
        Ok(())
    }

    /// Writer: whether `b`'s HoA belongs to a binding none of `b`'s keys lead to: for a /64
    /// `b`, a binding of another prefix length (the HoA index, probed only when it holds
    /// keys); for another `b`, a /64 binding (the /64 index, probed with the HoA's upper
    /// half).
    #[inline(always)]
    fn hoa_elsewhere(&self, b: &Binding) -> bool {
        let a = u128::from(b.home_address);
        let (t, k) = if b.prefix_len == 64 {
            if !self.hoa_keys() {
                return false;
            }
            (0, Key::Hoa(a))
        } else {
            (1, Key::P64((a >> 64) as u64))
        };
        self.tables[t].writer().is_some_and(|v| {
            v.find(v.spot(self.hash(k)), |id| {
                let x = self.load(id)?;
                owns(Key::Hoa(a), &x).then_some(())
            })
            .is_some()
        })
    }

    /// Writer: a fresh record id (oldest freed first) holding `b` and `payload`, counters
    /// zeroed; the payload stripe's write lock is taken once for the id's payload slot and
    /// the record. None when 2^26 records are in use.
    #[inline(always)]
    fn put_new(&self, w: &mut WriterState, b: &Binding, payload: T) -> Option<u32> {
        let (id, fresh) = match w.free.pop_front() {
            Some(id) => (id as usize, false),
            None => (self.high.load(Ordering::Relaxed), true),
        };
        if id >= MAX_RECORDS {
            return None;
        }
        if let Some(c) = self.counters.as_slice().get(id) {
            c.iter().for_each(|x| x.store(0, Ordering::Relaxed));
        }
        let mut stripe = self.payload[id % PAYLOAD_STRIPES]
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if fresh {
            stripe.push(None);
            self.high.store(id + 1, Ordering::Release);
        }
        self.store(id as u32, encode(b));
        if let Some(slot) = stripe.get_mut(id / PAYLOAD_STRIPES) {
            *slot = Some(payload);
        }
        Some(id as u32)
    }

    /// Every key of `b` with its hash (see [`keys_of`]).
    #[inline(always)]
    fn hashed_keys(&self, b: &Binding) -> HashedKeys {
        let mut out = [None; 5];
        for (o, k) in out.iter_mut().zip(keys_of(b)) {
            *o = k.map(|k| (k, self.hash(k)));
        }
        out
    }

    /// Writer: [`Self::insert_with`] once validated, keys hashed and the lock taken.
    ///
    /// Each key's table view, home bucket and filter bits are worked out once and serve
    /// both the duplicate check (under the writer lock the filter word alone proves most
    /// keys absent) and the placement.
    fn insert_locked(
        &self,
        w: &mut WriterState,
        b: &Binding,
        hashed: &HashedKeys,
        payload: T,
    ) -> Result<(), CacheError> {
        self.prefetch_next_record(w);
        // Per key: its table's view and its spot there (lines fetched as they are known).
        let plan = || -> Planned<'_> {
            let mut out = [None; 5];
            for (o, e) in out.iter_mut().zip(hashed) {
                if let Some((k, h)) = *e {
                    *o = self.tables[k.table()].writer().map(|wr| {
                        let s = wr.spot(h);
                        wr.prefetch(s);
                        (wr, s)
                    });
                }
            }
            out
        };
        let mut spots = plan();
        let owners = hashed.iter().zip(&spots).filter_map(|(e, p)| {
            let (Some((k, _)), Some((wr, s))) = (e, p) else {
                return None;
            };
            wr.find(*s, |id| {
                let x = self.load(id)?;
                owns(*k, &x).then_some(x)
            })
        });
        self.duplicate_verdict(b, owners)?;
        let id = self.alloc_id(w).ok_or(CacheError::KeyConflict)?;
        let mut extra = [0usize; TABLES];
        for (k, _) in hashed.iter().flatten() {
            extra[k.table()] += 1;
        }
        let ids = self.high.load(Ordering::Relaxed);
        if !hashed.iter().zip(&spots).all(|e| match e {
            (Some((k, _)), Some((wr, _))) => wr.has_room(extra[k.table()], ids),
            _ => true,
        }) {
            if !self.ensure_room_for(extra) {
                w.free.push_front(id);
                return Err(CacheError::KeyConflict);
            }
            // Tables were rebuilt: their views and spots are those of the new generation.
            spots = plan();
        }
        // The record first, then the keys that lead to it.
        if let Some(c) = self.counters.as_slice().get(id as usize) {
            c.iter().for_each(|x| x.store(0, Ordering::Relaxed));
        }
        self.put(id, b, payload);
        if b.prefix_len != 64 {
            self.hoa_mark(0, 1);
        }
        for (wr, s) in spots.iter().flatten() {
            wr.place(*s, id);
        }
        self.count_length(w, b.prefix_len, true);
        // Writers are serialised: load and store, no locked instruction.
        self.len
            .store(self.len.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        Ok(())
    }

    /// Replace the binding of `b.home_address` (new CoA, lifetime, sequence...). Counters stay.
    ///
    /// # Errors
    /// `NotFound`, `KeyConflict`, `BadPrefix`. Nothing changes on error.
    pub fn update_with(&self, b: Binding, payload: T) -> Result<(), CacheError> {
        Self::validate(&b)?;
        let keys = keys_of(&b);
        self.prefetch_keys(&keys);
        let mut w = self.lock_writer();
        self.prefetch_next_record(&w);
        let (old_id, old) = self
            .find(Key::Hoa(u128::from(b.home_address)))
            .ok_or(CacheError::NotFound)?;
        let old_keys = keys_of(&old);
        let taken = |k: Key| self.find(k).is_some_and(|(id, _)| id != old_id);
        if keys[1..].iter().flatten().any(|&k| taken(k)) {
            return Err(CacheError::KeyConflict);
        }
        let id = self.alloc_id(&mut w).ok_or(CacheError::KeyConflict)?;
        if !self.ensure_room(&keys) {
            w.free.push_front(id);
            return Err(CacheError::KeyConflict);
        }
        // The new binding goes into a fresh record; kept keys are repointed in place, new
        // ones added, old ones removed; then the old record dies.
        let c = self.counters.as_slice();
        if let Some(c) = c.get(id as usize) {
            c.iter().for_each(|x| x.store(0, Ordering::Relaxed));
        }
        self.put(id, &b, payload);
        // A prefix length 64 <-> other moves the HoA between the HoA and /64 indexes: the
        // move sequence is odd from before the new key is added until after the old one is
        // removed (see `find_hoa`).
        let moved = (old.prefix_len == 64) != (b.prefix_len == 64);
        if moved {
            self.hoa_mark(1, i32::from(b.prefix_len != 64));
        }
        for k in keys.into_iter().flatten() {
            let h = self.hash(k);
            if old_keys.contains(&Some(k)) {
                self.tables[k.table()].replace(h, old_id, id);
            } else {
                self.tables[k.table()].insert(h, id);
            }
        }
        for k in old_keys.into_iter().flatten() {
            if !keys.contains(&Some(k)) {
                self.tables[k.table()].remove(self.hash(k), old_id);
            }
        }
        if moved {
            self.hoa_mark(1, -i32::from(old.prefix_len != 64));
        }
        // Counters move to the new record (a packet counted on the old one in the last
        // instant before this may be lost).
        if let (Some(new), Some(prev)) = (c.get(id as usize), c.get(old_id as usize)) {
            for (n, p) in new.iter().zip(prev) {
                n.fetch_add(p.swap(0, Ordering::Relaxed), Ordering::Relaxed);
            }
        }
        let old_payload = self.kill(old_id);
        w.free.push_back(old_id);
        self.count_length(&mut w, b.prefix_len, true);
        self.count_length(&mut w, old.prefix_len, false);
        self.refresh_filters();
        drop(w);
        drop(old_payload);
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
        let (id, b) = self
            .find(Key::Hoa(u128::from(hoa)))
            .ok_or(CacheError::NotFound)?;
        for k in keys_of(&b).into_iter().flatten() {
            self.tables[k.table()].remove(self.hash(k), id);
        }
        if b.prefix_len != 64 {
            self.hoa_mark(0, -1);
        }
        let payload = self.kill(id);
        w.free.push_back(id);
        self.count_length(&mut w, b.prefix_len, false);
        self.len.fetch_sub(1, Ordering::Relaxed);
        self.refresh_filters();
        drop(w);
        // A live record always has its payload.
        payload.map(|p| (b, p)).ok_or(CacheError::NotFound)
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
        let expired: Vec<Ipv6Addr> = self
            .snapshot()
            .into_iter()
            .filter(|b| b.expires_at <= now)
            .map(|b| b.home_address)
            .collect();
        expired
            .into_iter()
            .filter_map(|h| self.remove_with(h).ok())
            .collect()
    }

    /// The binding of exactly this home address.
    #[must_use]
    #[inline]
    pub fn get(&self, hoa: Ipv6Addr) -> Option<Binding> {
        self.find(Key::Hoa(u128::from(hoa))).map(|(_, b)| b)
    }

    /// Call `f` on the binding of exactly this home address and its payload.
    #[inline]
    pub fn get_with<R>(&self, hoa: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        self.with_payload(Key::Hoa(u128::from(hoa)), None, f)
    }

    /// [`Self::lookup_v6`] with a closure over the binding and payload.
    pub fn lookup_v6_with<R>(&self, dst: Ipv6Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        let a = u128::from(dst);
        let (k, id) = match self.find_raw(Key::Hoa(a)) {
            Some((id, _)) => (Key::Hoa(a), id),
            None => self.lpm(a).map(|(k, id, _)| (k, id))?,
        };
        self.with_payload(k, Some(id), f)
    }

    /// [`Self::lookup_v4`] with a closure over the binding and payload.
    pub fn lookup_v4_with<R>(&self, dst: Ipv4Addr, f: impl FnOnce(&Binding, &T) -> R) -> Option<R> {
        self.with_payload(Key::V4(u32::from(dst)), None, f)
    }

    /// [`Self::lookup_inbound`] with a closure over the binding and payload.
    pub fn lookup_inbound_with<R>(
        &self,
        src: IpAddr,
        key: InboundKey,
        f: impl FnOnce(&Binding, &T) -> R,
    ) -> Option<R> {
        self.with_payload(inbound_key(src, key), None, f)
    }

    /// Call `f` on every binding and payload, one payload stripe at a time (read-locked).
    pub fn for_each(&self, mut f: impl FnMut(&Binding, &T)) {
        for (s, stripe) in self.payload.iter().enumerate() {
            let stripe = stripe.read().unwrap_or_else(PoisonError::into_inner);
            for (j, p) in stripe.iter().enumerate() {
                let Some(p) = p else { continue };
                let id = (j * PAYLOAD_STRIPES + s) as u32;
                if let Some(b) = self.load(id).as_ref().and_then(decode) {
                    f(&b, p);
                }
            }
        }
    }

    /// Outbound lookup of an IPv6 destination: the binding with this HoA, else the one whose
    /// home network prefix is the longest match.
    #[must_use]
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<Binding> {
        self.lookup_v6_view(dst).map(|v| v.binding())
    }

    /// [`Self::get`] without decoding: the record's words, decoded on demand.
    #[must_use]
    #[inline]
    pub fn get_view(&self, hoa: Ipv6Addr) -> Option<BindingView> {
        self.find_raw(Key::Hoa(u128::from(hoa)))
            .map(|(_, w)| BindingView::of(&w))
    }

    /// [`Self::lookup_v6`] without decoding (see [`BindingView`]).
    #[must_use]
    #[inline]
    pub fn lookup_v6_view(&self, dst: Ipv6Addr) -> Option<BindingView> {
        let a = u128::from(dst);
        let w = match self.find_raw(Key::Hoa(a)) {
            Some((_, w)) => w,
            None => self.lpm(a)?.2,
        };
        Some(BindingView::of(&w))
    }

    /// Outbound lookup of an IPv4 destination (IPv4 home address).
    #[must_use]
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<Binding> {
        self.find(Key::V4(u32::from(dst))).map(|(_, b)| b)
    }

    /// Inbound lookup: the binding registered from `src` with this key.
    #[must_use]
    #[inline]
    pub fn lookup_inbound(&self, src: IpAddr, key: InboundKey) -> Option<Binding> {
        self.find(inbound_key(src, key)).map(|(_, b)| b)
    }

    /// Exact-HoA lookups of many addresses (the forwarding engine's batches): the index
    /// lines of [`BATCH`] keys are prefetched together, then their records, so the memory
    /// latencies overlap. `out` receives one answer per address, in order.
    pub fn get_batch(&self, hoas: &[Ipv6Addr], out: &mut Vec<Option<Binding>>) {
        self.batch_hoa(hoas, out, |v| v.binding_v6_coa(), |b, v| v.fix_care_of(b));
    }

    /// [`Self::lookup_v6`] over many destinations (prefetching as [`Self::get_batch`], with
    /// the /64 prefix index probed in the same pass; other prefix lengths take the
    /// single-lookup path).
    pub fn lookup_v6_batch(&self, dsts: &[Ipv6Addr], out: &mut Vec<Option<Binding>>) {
        self.batch(dsts, out, |v| v.binding_v6_coa(), |b, v| v.fix_care_of(b));
    }

    /// [`Self::get_batch`] without decoding (see [`BindingView`]).
    pub fn get_view_batch(&self, hoas: &[Ipv6Addr], out: &mut Vec<Option<BindingView>>) {
        self.batch_hoa(hoas, out, |v| v, |_, _| {});
    }

    /// [`Self::lookup_v6_batch`] without decoding (see [`BindingView`]).
    pub fn lookup_v6_view_batch(&self, dsts: &[Ipv6Addr], out: &mut Vec<Option<BindingView>>) {
        self.batch(dsts, out, |v| v, |_, _| {});
    }

    /// The exact-HoA batch ([`Self::get_batch`], [`Self::get_view_batch`]): per chunk of
    /// [`BATCH`] keys, three passes whose memory reads overlap within each pass: hash every
    /// key and prefetch its filter word and home bucket; test the filter words and scan the
    /// buckets they do not rule out, prefetching the candidates' records; read the records.
    /// Per-key state is a few words and bit masks (keys ruled out cost nothing after the
    /// second pass: their answers are the `None`s written first);
    /// anything unusual (a false tag match, a key past its home bucket, a racing writer, a
    /// table or filter replaced meanwhile) goes to the single lookup.
    ///
    /// Session 12: the passes run over the /64 index (a /64 binding has no HoA key; the
    /// record its /64 key names is checked for the full HoA, as in [`Self::find_hoa`]),
    /// then, while the HoA index holds keys, over it for the keys not found; a key found in
    /// neither is final only if no move between the two indexes overlapped the chunk
    /// (otherwise it takes the single lookup).
    #[inline(always)]
    fn batch_hoa<O>(
        &self,
        addrs: &[Ipv6Addr],
        out: &mut Vec<Option<O>>,
        conv: impl Fn(BindingView) -> O,
        fix: impl Fn(&mut O, &BindingView),
    ) {
        let single = |a: Ipv6Addr| {
            self.get_view(a).map(|v| {
                let mut o = conv(v);
                fix(&mut o, &v);
                o
            })
        };
        out.reserve(addrs.len());
        for chunk in addrs.chunks(BATCH) {
            let start = out.len();
            out.resize_with(start + chunk.len(), || None);
            let dst = &mut out[start..];
            let st = self.hoa.load(Ordering::Acquire);
            let n = chunk.len().min(BATCH);
            let Some(mut unsure) =
                self.batch_pass::<O, true, true>(chunk, u32::MAX >> (32 - n), dst, &conv, &fix)
            else {
                for (d, a) in dst.iter_mut().zip(chunk) {
                    *d = single(*a);
                }
                continue;
            };
            // The HoA index, while it holds keys (or a move runs), for the keys the /64
            // index did not have (those still `None`: no mask kept on the common path).
            if st & (HOA_COUNT | HOA_MOVING) != 0 {
                let rest = nones(dst) & !unsure;
                if rest != 0 {
                    unsure |= self
                        .batch_pass::<O, false, false>(chunk, rest, dst, &conv, &fix)
                        .unwrap_or(rest);
                }
            }
            // A move between the two indexes during these reads may have hidden a key from
            // both: then the keys not found take the single lookup (see `find_hoa`).
            if !self.hoa_settled(st) {
                unsure |= nones(dst);
            }
            while unsure != 0 {
                let j = unsure.trailing_zeros() as usize;
                unsure &= unsure - 1;
                if let (Some(d), Some(a)) = (dst.get_mut(j), chunk.get(j)) {
                    *d = single(*a);
                }
            }
        }
    }

    /// One index's passes of [`Self::batch_hoa`] over the keys `todo` of `chunk` (bit `j`
    /// for `chunk[j]`; every key when `ALL`, at most [`BATCH`]): the /64 index, by the HoA's
    /// upper half, when `P64`, else the HoA index. Hits are written to `dst`. Returns the
    /// keys for the single lookup (a false tag match, a key past its home bucket, a racing
    /// writer, the table or filter replaced meanwhile); None, with nothing done, when the
    /// table has no generation.
    #[inline(always)]
    fn batch_pass<O, const P64: bool, const ALL: bool>(
        &self,
        chunk: &[Ipv6Addr],
        todo: u32,
        dst: &mut [Option<O>],
        conv: &impl Fn(BindingView) -> O,
        fix: &impl Fn(&mut O, &BindingView),
    ) -> Option<u32> {
        let t = &self.tables[usize::from(P64)];
        let s = t.snap()?;
        let wanted = |j: usize| ALL || todo & (1 << j) != 0;
        // Plain index loops (`n` is at most `BATCH`, so no bounds checks remain).
        let n = chunk.len().min(BATCH);
        let mut hs = [0u64; BATCH];
        let mut homes = [0usize; BATCH];
        for j in 0..n {
            if !wanted(j) {
                continue;
            }
            let a = u128::from(chunk[j]);
            let h = if P64 {
                self.hash(Key::P64((a >> 64) as u64))
            } else {
                self.hash(Key::Hoa(a))
            };
            hs[j] = h;
            homes[j] = s.home(h);
            s.prefetch_filter(homes[j]);
            // The home bucket with the filter word, so that a hit waits on two rounds
            // of fetches (index lines, then records), not three. Session 7 A/B (keys
            // from a buffer, three alternating runs of each build at load 3-4, thread
            // CPU): against the bucket hinted once the filter word says "maybe", misses
            // 14.2-15.1 ns against 17.6-22.9 and hits 72-91 against 71-101 ns.
            s.prefetch_bucket(homes[j]);
        }
        // Keys whose record is to be read (`ids`), keys for the single lookup: each key's
        // filter word, then, when it says "maybe", its home bucket, in one pass (session
        // 11: the separate filter pass that built a mask first cost ~11 instructions more
        // per hit and ~4 per miss; miss times alike within this VM's noise).
        let (mut cand, mut unsure) = (0u32, 0u32);
        let mut ids = [0u32; BATCH];
        for j in 0..n {
            if !wanted(j) || !s.maybe(hs[j], homes[j]) {
                continue;
            }
            match s.scan(hs[j], homes[j]) {
                Probe::Candidate(id) => {
                    cand |= 1 << j;
                    ids[j] = id;
                    // A hint only: the read below checks `id` against the records.
                    mem::prefetch_at(self.recs.as_slice(), id as usize);
                }
                Probe::Unsure => unsure |= 1 << j,
                Probe::Absent => {}
            }
        }
        let mut m = cand;
        while m != 0 {
            let j = m.trailing_zeros() as usize % BATCH;
            m &= m - 1;
            // One attempt at the record (a writer rewriting it sends the key to the
            // single lookup, which waits for it).
            let a = chunk.get(j).map_or(0, |a| u128::from(*a));
            match self.rec(ids[j]).and_then(Self::read_once) {
                Some(w) if owns(Key::Hoa(a), &w) => {
                    if let Some(d) = dst.get_mut(j) {
                        let v = BindingView::of(&w);
                        fix(d.insert(conv(v)), &v);
                    }
                }
                // The one /64 binding of this /64 has another HoA: no /64 one has it.
                Some(w) if P64 && owns(Key::P64((a >> 64) as u64), &w) => {}
                _ => unsure |= 1 << j,
            }
        }
        // Every "absent" above is final only if no table or filter was replaced meanwhile
        // (their old arrays read as zeros).
        if !t.unchanged(&s) {
            unsure |= nones(dst) & if ALL { u32::MAX } else { todo };
        }
        Some(unsure)
    }

    #[inline(always)]
    fn batch<O>(
        &self,
        addrs: &[Ipv6Addr],
        out: &mut Vec<Option<O>>,
        conv: impl Fn(BindingView) -> O,
        fix: impl Fn(&mut O, &BindingView),
    ) {
        // (Session 12: the exact-HoA-only mode, unused since session 6's `batch_hoa`, is
        // gone: an absent HoA key is no longer final for an exact lookup.)
        let slow = |a: Ipv6Addr| {
            self.lookup_v6_view(a).map(|v| {
                let mut o = conv(v);
                fix(&mut o, &v);
                o
            })
        };
        out.reserve(addrs.len());
        let lengths = [0, 1, 2].map(|i| self.prefix_lengths[i].load(Ordering::Acquire));
        // Prefix lengths in use: 64 (bit 0 of word 1), longer ones (whose match would beat a
        // /64 one: the /64 pass is then skipped) and shorter ones (a /64 miss is then not
        // final).
        let p64 = lengths[1] & 1 != 0;
        let longer = lengths[1] & !1 != 0 || lengths[2] != 0;
        let shorter = lengths[0] != 0;
        let use64 = p64 && !longer;
        // Whether an absent key is a final `None`: found absent in the HoA index (when the
        // /64 one was not probed: only with no prefix length in use, no binding), or in the
        // /64 index (which also answers the HoAs of /64 bindings: they have no HoA key).
        let none_final_hoa = !p64 && !longer && !shorter;
        let none_final_64 = !shorter;
        for chunk in addrs.chunks(BATCH) {
            // The HoA word (see `find_hoa`): a move between the HoA and /64 indexes during
            // the probes makes their "absent"s unsure.
            let st = self.hoa.load(Ordering::Acquire);
            let s0 = self.tables[0].snap();
            let s1 = if use64 { self.tables[1].snap() } else { None };
            let (Some(s0), true) = (s0, use64 == s1.is_some()) else {
                out.extend(chunk.iter().map(|a| slow(*a)));
                continue;
            };
            // Stages: filter words, then the home buckets the filters do not rule out,
            // then the candidates' records; the fetches of each stage overlap.
            // Per key: (hash, home bucket) in the HoA and /64 indexes.
            let n = chunk.len();
            let mut hs = [((0u64, 0usize), (0u64, 0usize)); BATCH];
            for (h, a) in hs.iter_mut().zip(chunk) {
                let a = u128::from(*a);
                let x = self.hash(Key::Hoa(a));
                h.0 = (x, s0.home(x));
                s0.prefetch_filter(h.0 .1);
                if let Some(s1) = &s1 {
                    let x = self.hash(Key::P64((a >> 64) as u64));
                    h.1 = (x, s1.home(x));
                    s1.prefetch_filter(h.1 .1);
                }
            }
            let mut maybe = [(false, false); BATCH];
            for (m, &((h0, i0), (h1, i1))) in maybe.iter_mut().zip(&hs[..n]) {
                m.0 = s0.maybe(h0, i0);
                if m.0 {
                    s0.prefetch_bucket(i0);
                }
                if let Some(s1) = &s1 {
                    m.1 = s1.maybe(h1, i1);
                    if m.1 {
                        s1.prefetch_bucket(i1);
                    }
                }
            }
            // (probe answer, whether it is the /64 index's)
            let mut probes = [(Probe::Absent, false); BATCH];
            for ((p, &((h0, i0), (h1, i1))), m) in probes.iter_mut().zip(&hs[..n]).zip(&maybe) {
                let first = if m.0 { s0.scan(h0, i0) } else { Probe::Absent };
                *p = match (&s1, first) {
                    (Some(s1), Probe::Absent) => {
                        (if m.1 { s1.scan(h1, i1) } else { Probe::Absent }, true)
                    }
                    _ => (first, false),
                };
                if let Probe::Candidate(id) = p.0 {
                    if let Some(r) = self.rec(id) {
                        prefetch(r);
                    }
                }
            }
            // Every "absent" above is final only if no table or filter was replaced
            // meanwhile (their old arrays read as zeros).
            let fresh = self.tables[0].unchanged(&s0)
                && s1.as_ref().is_none_or(|s1| self.tables[1].unchanged(s1))
                && self.hoa_settled(st);
            // Whether an "absent" from the HoA index / the /64 index is a final `None`.
            let none_final = [fresh && none_final_hoa, fresh && none_final_64];
            for (a, &(p, is64)) in chunk.iter().zip(&probes) {
                // Each answer pushed on its own (a `None` then writes only its tag).
                match p {
                    Probe::Candidate(id) => {
                        let a = u128::from(*a);
                        let k = if is64 {
                            Key::P64((a >> 64) as u64)
                        } else {
                            Key::Hoa(a)
                        };
                        // One attempt at the record (a writer rewriting it sends the key
                        // to the single lookup below, which waits for it).
                        let r = self.rec(id).and_then(Self::read_once);
                        if let Some(w) = r.filter(|w| owns(k, w)) {
                            // Corrected in place, as in `batch_hoa`.
                            let v = BindingView::of(&w);
                            out.push(Some(conv(v)));
                            if let Some(Some(o)) = out.last_mut() {
                                fix(o, &v);
                            }
                            continue;
                        }
                    }
                    Probe::Absent => {
                        if none_final[usize::from(is64)] {
                            out.push(None);
                            continue;
                        }
                    }
                    Probe::Unsure => {}
                }
                // A false tag match, a racing writer, a key past its home bucket, or other
                // prefix lengths to try: the single lookup decides.
                out.push(slow(*a));
            }
        }
    }

    /// Count one packet of `bytes` octets towards (`to_ue`) or from the UE of `hoa`.
    /// Returns false when there is no such binding.
    pub fn count(&self, hoa: Ipv6Addr, to_ue: bool, bytes: u64) -> bool {
        let Some((id, _)) = self.find(Key::Hoa(u128::from(hoa))) else {
            return false;
        };
        let Some(c) = self.counters.as_slice().get(id as usize) else {
            return false;
        };
        let base = if to_ue { 0 } else { 2 };
        c[base].fetch_add(1, Ordering::Relaxed);
        c[base + 1].fetch_add(bytes, Ordering::Relaxed);
        true
    }

    #[must_use]
    pub fn counters(&self, hoa: Ipv6Addr) -> Option<BindingCounters> {
        let (id, _) = self.find(Key::Hoa(u128::from(hoa)))?;
        let c = self.counters.as_slice().get(id as usize)?;
        let g = |i: usize| c[i].load(Ordering::Relaxed);
        Some(BindingCounters {
            packets_to_ue: g(0),
            bytes_to_ue: g(1),
            packets_from_ue: g(2),
            bytes_from_ue: g(3),
        })
    }

    /// A snapshot of every binding (record by record).
    #[must_use]
    pub fn snapshot(&self) -> Vec<Binding> {
        let high = self.high.load(Ordering::Acquire) as u32;
        let mut v = Vec::with_capacity(self.len());
        v.extend((0..high).filter_map(|id| self.load(id).as_ref().and_then(decode)));
        v
    }
}

#[cfg(test)]
mod test;
