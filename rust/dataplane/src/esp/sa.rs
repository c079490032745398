//! One ESP security association (one direction's keys; either operation may be used).

use core::ops::Range;
use std::net::IpAddr;

use aes::cipher::{
    block_padding::NoPadding, BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit,
};
use ring::{aead, hmac};

use super::ip::{self, IpVersion};
use super::replay::{ReplayWindow, DEFAULT_WINDOW_WORDS};
use super::EspError;

/// Largest growth of a packet by [`Sa::encrypt_into`]: outer IPv6 header (40), UDP (8), SPI +
/// sequence (8), IV (≤ 16), padding + trailer (≤ 17), ICV (16) — rounded up.
pub const MAX_OVERHEAD: usize = 128;

const ESP_HDR: usize = 8;
const ICV_LEN: usize = 16;
/// RFC 4303 §2.4: padding for 32-bit alignment of the trailer.
const ALIGN_4: usize = 4;
/// AES block (RFC 3602 §3: CBC ciphertext is a whole number of blocks).
const AES_BLOCK: usize = 16;
/// RFC 4106 §3.1 / RFC 7634 §2: 8-octet explicit IV, 4-octet salt.
const AEAD_IV: usize = 8;
const SALT: usize = 4;
/// RFC 4868 §2.1.1: HMAC-SHA-256-128 uses a 256-bit key, ICV truncated to 128 bits.
const HMAC_SHA256_KEY: usize = 32;

/// The ESP transforms dsmip6 implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES-GCM with a 16-octet ICV and a 128-bit key (RFC 4106; IKEv2 ENCR 20).
    AesGcm128,
    /// AES-GCM, 16-octet ICV, 256-bit key.
    AesGcm256,
    /// AES-CBC (128/192/256-bit key, RFC 3602) with HMAC-SHA-256-128 (RFC 4868).
    AesCbcHmacSha256,
    /// ChaCha20-Poly1305 (RFC 7634).
    ChaCha20Poly1305,
    /// NULL encryption (RFC 2410), with HMAC-SHA-256-128 when an integrity key is given.
    Null,
}

impl Algorithm {
    /// Parse the `dsmip6.esp` name (`"aes-gcm-128"`, ...).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "aes-gcm-128" => Self::AesGcm128,
            "aes-gcm-256" => Self::AesGcm256,
            "aes-cbc-hmac-sha256" => Self::AesCbcHmacSha256,
            "chacha20-poly1305" => Self::ChaCha20Poly1305,
            "null" => Self::Null,
            _ => return None,
        })
    }

    /// The `dsmip6.esp` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::AesGcm128 => "aes-gcm-128",
            Self::AesGcm256 => "aes-gcm-256",
            Self::AesCbcHmacSha256 => "aes-cbc-hmac-sha256",
            Self::ChaCha20Poly1305 => "chacha20-poly1305",
            Self::Null => "null",
        }
    }
}

/// Transport mode protects the upper layer of the packet itself; tunnel mode a whole inner
/// IP packet behind a new outer header (RFC 4303 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    Transport,
    Tunnel,
}

/// What it takes to build an [`Sa`].
#[derive(Debug, Clone, Copy)]
pub struct SaConfig<'a> {
    pub spi: u32,
    pub mode: Mode,
    pub algorithm: Algorithm,
    /// Encryption key; for the AEADs the 4-octet salt follows (RFC 4106 §8.1, RFC 7634 §4).
    pub key: &'a [u8],
    /// HMAC-SHA-256 key (32 octets) for `AesCbcHmacSha256` (required) and `Null` (optional).
    pub integrity_key: Option<&'a [u8]>,
    /// Extended 64-bit sequence numbers (RFC 4303 §2.2.1).
    pub esn: bool,
    /// `(source port, destination port)` of the RFC 3948 UDP header written on output.
    pub udp_encap: Option<(u16, u16)>,
    /// Outer `(source, destination)` for tunnel mode output (same address family).
    pub tunnel: Option<(IpAddr, IpAddr)>,
}

/// Packet and octet counters of one SA. `bytes_*` count protected payload octets (the
/// upper layer in transport mode, the inner packet in tunnel mode), for lifetimes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaCounters {
    pub packets_out: u64,
    pub bytes_out: u64,
    pub packets_in: u64,
    pub bytes_in: u64,
    pub dummy_in: u64,
    pub drop_malformed: u64,
    pub drop_not_esp: u64,
    pub drop_unknown_spi: u64,
    pub drop_replay: u64,
    pub drop_icv: u64,
    pub drop_padding: u64,
    pub drop_exhausted: u64,
}

impl SaCounters {
    /// `(name, value)` pairs, for export.
    #[must_use]
    pub fn items(&self) -> [(&'static str, u64); 12] {
        [
            ("packets_out", self.packets_out),
            ("bytes_out", self.bytes_out),
            ("packets_in", self.packets_in),
            ("bytes_in", self.bytes_in),
            ("dummy_in", self.dummy_in),
            ("drop_malformed", self.drop_malformed),
            ("drop_not_esp", self.drop_not_esp),
            ("drop_unknown_spi", self.drop_unknown_spi),
            ("drop_replay", self.drop_replay),
            ("drop_icv", self.drop_icv),
            ("drop_padding", self.drop_padding),
            ("drop_exhausted", self.drop_exhausted),
        ]
    }

    fn count_drop(&mut self, e: EspError) {
        let c = match e {
            EspError::Truncated | EspError::Malformed(_) | EspError::TooBig => {
                &mut self.drop_malformed
            }
            EspError::NotEsp => &mut self.drop_not_esp,
            EspError::UnknownSpi(_) => &mut self.drop_unknown_spi,
            EspError::Replayed(_) => &mut self.drop_replay,
            EspError::IntegrityCheckFailed => &mut self.drop_icv,
            EspError::BadPadding => &mut self.drop_padding,
            EspError::SequenceNumberExhausted => &mut self.drop_exhausted,
            EspError::BufferTooSmall { .. } | EspError::InvalidConfig(_) => return,
        };
        *c += 1;
    }
}

enum CbcKey {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

/// Longest AEAD key (AES-256-GCM, ChaCha20-Poly1305).
const AEAD_MAX_KEY: usize = 32;

/// An AEAD key: expanded once at construction (the default; ring's key schedule and GHASH
/// table, ~550 octets, read on every packet), or kept raw and expanded for each packet
/// ([`Sa::new_compact`]: ~40 octets; expansion costs well under a microsecond, right for SAs
/// that carry a few packets per minute such as the HA's per-UE Mobility Header SAs).
enum AeadKey {
    Expanded(Box<aead::LessSafeKey>),
    Raw {
        alg: &'static aead::Algorithm,
        key: [u8; AEAD_MAX_KEY],
    },
}

impl AeadKey {
    fn expand(alg: &'static aead::Algorithm, key: &[u8]) -> Result<aead::LessSafeKey, EspError> {
        let unbound = aead::UnboundKey::new(alg, key)
            .map_err(|_| EspError::InvalidConfig("AEAD key rejected"))?;
        Ok(aead::LessSafeKey::new(unbound))
    }

    fn seal(
        &self,
        nonce: aead::Nonce,
        aad: aead::Aad<&[u8]>,
        in_out: &mut [u8],
    ) -> Result<aead::Tag, EspError> {
        let seal = |k: &aead::LessSafeKey| {
            k.seal_in_place_separate_tag(nonce, aad, in_out)
                .map_err(|_| EspError::TooBig)
        };
        match self {
            Self::Expanded(k) => seal(k),
            Self::Raw { alg, key } => seal(&Self::expand(alg, &key[..alg.key_len()])?),
        }
    }

    fn open<'io>(
        &self,
        nonce: aead::Nonce,
        aad: aead::Aad<&[u8]>,
        in_out: &'io mut [u8],
    ) -> Result<&'io mut [u8], EspError> {
        let open = |k: &aead::LessSafeKey, io: &'io mut [u8]| {
            k.open_in_place(nonce, aad, io)
                .map_err(|_| EspError::IntegrityCheckFailed)
        };
        match self {
            Self::Expanded(k) => open(k, in_out),
            Self::Raw { alg, key } => open(&Self::expand(alg, &key[..alg.key_len()])?, in_out),
        }
    }
}

// The CBC and HMAC keys stay inline; the AEAD key schedule is boxed (or raw, compact SAs),
// so an SA is a few hundred octets whatever its algorithm.
enum Cipher {
    /// AES-GCM or ChaCha20-Poly1305: key (schedule) + salt.
    Aead {
        key: AeadKey,
        salt: [u8; SALT],
    },
    /// AES-CBC, its IV generator and the HMAC key. IVs (RFC 4303 §3.3.2 / RFC 3602 §2.4 want
    /// them unpredictable) are AES-128 encryptions of the 64-bit sequence number under a
    /// random per-SA key drawn once from the OS (getrandom): unique per packet and
    /// unpredictable without that key.
    Cbc {
        key: Box<CbcKey>,
        iv_key: Box<aes::Aes128>,
        mac: Box<hmac::Key>,
    },
    Null {
        mac: Option<Box<hmac::Key>>,
    },
}

impl Cipher {
    const fn iv_len(&self) -> usize {
        match self {
            Self::Aead { .. } => AEAD_IV,
            Self::Cbc { .. } => AES_BLOCK,
            Self::Null { .. } => 0,
        }
    }

    const fn icv_len(&self) -> usize {
        match self {
            Self::Aead { .. } | Self::Cbc { .. } | Self::Null { mac: Some(_) } => ICV_LEN,
            Self::Null { mac: None } => 0,
        }
    }

    const fn align(&self) -> usize {
        match self {
            Self::Cbc { .. } => AES_BLOCK,
            _ => ALIGN_4,
        }
    }

    const fn has_integrity(&self) -> bool {
        self.icv_len() != 0
    }
}

#[derive(Clone, Copy)]
enum Tunnel {
    V6([u8; 16], [u8; 16]),
    V4([u8; 4], [u8; 4]),
}

/// Results of a batch call: `items[i]` is the range of `buf` holding output packet `i`, or
/// the reason it was dropped. Reuse one `Batch` across calls: after warm-up nothing is
/// allocated per packet.
#[derive(Debug, Default)]
pub struct Batch {
    pub buf: Vec<u8>,
    pub items: Vec<Result<Range<usize>, EspError>>,
}

impl Batch {
    /// Output packet `i` (None if it was dropped or out of range).
    #[must_use]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        match self.items.get(i)? {
            Ok(r) => self.buf.get(r.clone()),
            Err(_) => None,
        }
    }
}

/// What an SA keeps beside its keys and sequence counter: the receive state (anti-replay
/// window) and the statistics. [`Sa`] keeps both ([`Full`]); the compact per-UE signalling SAs
/// of the HA keep only what their direction needs ([`RxOnly`]: the 1024-packet window, no
/// counters; [`TxOnly`]: nothing, as an outbound SA has no window, RFC 4303 §3.3.3).
pub trait SaState: Default {
    /// Whether the SA can receive (an outbound-only SA refuses `decrypt_into`).
    const RECEIVES: bool;
    /// Highest authenticated received sequence number (0 before the first, or no window).
    fn top(&self) -> u64;
    /// See [`ReplayWindow::reset_to`].
    fn reset_to(&mut self, top: u64);
    /// See [`ReplayWindow::infer_high`].
    fn infer_high(&self, seq_low: u32) -> u32;
    /// See [`ReplayWindow::check`] (always a refusal without a window).
    ///
    /// # Errors
    /// `Err(seq)` for a replay.
    fn check(&self, seq: u64) -> Result<(), u64>;
    /// See [`ReplayWindow::mark`].
    fn mark(&mut self, seq: u64);
    /// The counters (all zero when not kept).
    fn counters(&self) -> SaCounters;
    /// Count a dropped packet by its reason.
    fn count_drop(&mut self, e: EspError);
    /// Count one packet sent with `bytes` payload octets.
    fn count_out(&mut self, bytes: u64);
    /// Count one packet received with `bytes` payload octets.
    fn count_in(&mut self, bytes: u64);
    /// Count one dummy packet received (RFC 4303 §2.6).
    fn count_dummy(&mut self);
}

/// Window and counters: the state of a general-purpose [`Sa`].
#[derive(Debug, Clone, Default)]
pub struct Full {
    window: ReplayWindow<DEFAULT_WINDOW_WORDS>,
    counters: SaCounters,
}

impl SaState for Full {
    const RECEIVES: bool = true;
    fn top(&self) -> u64 {
        self.window.top()
    }
    fn reset_to(&mut self, top: u64) {
        self.window.reset_to(top);
    }
    fn infer_high(&self, seq_low: u32) -> u32 {
        self.window.infer_high(seq_low)
    }
    fn check(&self, seq: u64) -> Result<(), u64> {
        self.window.check(seq)
    }
    fn mark(&mut self, seq: u64) {
        self.window.mark(seq);
    }
    fn counters(&self) -> SaCounters {
        self.counters
    }
    fn count_drop(&mut self, e: EspError) {
        self.counters.count_drop(e);
    }
    fn count_out(&mut self, bytes: u64) {
        self.counters.packets_out += 1;
        self.counters.bytes_out += bytes;
    }
    fn count_in(&mut self, bytes: u64) {
        self.counters.packets_in += 1;
        self.counters.bytes_in += bytes;
    }
    fn count_dummy(&mut self) {
        self.counters.dummy_in += 1;
    }
}

/// The receive state of an inbound-only SA: the full 1024-packet window, no counters.
#[derive(Debug, Clone, Default)]
pub struct RxOnly {
    window: ReplayWindow<DEFAULT_WINDOW_WORDS>,
}

impl SaState for RxOnly {
    const RECEIVES: bool = true;
    fn top(&self) -> u64 {
        self.window.top()
    }
    fn reset_to(&mut self, top: u64) {
        self.window.reset_to(top);
    }
    fn infer_high(&self, seq_low: u32) -> u32 {
        self.window.infer_high(seq_low)
    }
    fn check(&self, seq: u64) -> Result<(), u64> {
        self.window.check(seq)
    }
    fn mark(&mut self, seq: u64) {
        self.window.mark(seq);
    }
    fn counters(&self) -> SaCounters {
        SaCounters::default()
    }
    fn count_drop(&mut self, _: EspError) {}
    fn count_out(&mut self, _: u64) {}
    fn count_in(&mut self, _: u64) {}
    fn count_dummy(&mut self) {}
}

/// An outbound-only SA: no window, no counters; `decrypt_into` refuses every packet.
#[derive(Debug, Clone, Copy, Default)]
pub struct TxOnly;

impl SaState for TxOnly {
    const RECEIVES: bool = false;
    fn top(&self) -> u64 {
        0
    }
    fn reset_to(&mut self, _: u64) {}
    fn infer_high(&self, _: u32) -> u32 {
        0
    }
    fn check(&self, seq: u64) -> Result<(), u64> {
        Err(seq)
    }
    fn mark(&mut self, _: u64) {}
    fn counters(&self) -> SaCounters {
        SaCounters::default()
    }
    fn count_drop(&mut self, _: EspError) {}
    fn count_out(&mut self, _: u64) {}
    fn count_in(&mut self, _: u64) {}
    fn count_dummy(&mut self) {}
}

/// The general-purpose ESP SA (window and counters kept).
pub type Sa = SaCore<Full>;

/// An ESP security association: keys, mode, sequence counter, and the state `S` (replay
/// window, counters; see [`SaState`]).
pub struct SaCore<S: SaState> {
    spi: u32,
    mode: Mode,
    algorithm: Algorithm,
    cipher: Cipher,
    esn: bool,
    udp_encap: Option<(u16, u16)>,
    /// Boxed: 8 octets in the (many) transport-mode SAs instead of 34.
    tunnel: Option<Box<Tunnel>>,
    /// Last sequence number sent (RFC 4303 §3.3.3: starts at 0, first packet carries 1).
    seq_out: u64,
    state: S,
}

impl<S: SaState> core::fmt::Debug for SaCore<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Keys are never printed.
        f.debug_struct("Sa")
            .field("spi", &format_args!("{:#010x}", self.spi))
            .field("mode", &self.mode)
            .field("algorithm", &self.algorithm)
            .field("esn", &self.esn)
            .field("seq_out", &self.seq_out)
            .field("replay_top", &self.state.top())
            .finish_non_exhaustive()
    }
}

fn hmac_key(integrity_key: Option<&[u8]>) -> Result<Option<Box<hmac::Key>>, EspError> {
    match integrity_key {
        None => Ok(None),
        Some(k) if k.len() == HMAC_SHA256_KEY => {
            Ok(Some(Box::new(hmac::Key::new(hmac::HMAC_SHA256, k))))
        }
        Some(_) => Err(EspError::InvalidConfig(
            "HMAC-SHA-256-128 needs a 32-octet integrity key",
        )),
    }
}

fn aead_key(alg: &'static aead::Algorithm, key: &[u8], compact: bool) -> Result<Cipher, EspError> {
    let klen = alg.key_len();
    if key.len() != klen + SALT || klen > AEAD_MAX_KEY {
        return Err(EspError::InvalidConfig(
            "AEAD key must be the cipher key followed by a 4-octet salt",
        ));
    }
    // Expanded in both cases: a bad key is refused here, never at the first packet.
    let expanded = AeadKey::expand(alg, &key[..klen])?;
    let mut salt = [0; SALT];
    salt.copy_from_slice(&key[klen..]);
    let key = if compact {
        let mut raw = [0; AEAD_MAX_KEY];
        raw[..klen].copy_from_slice(&key[..klen]);
        AeadKey::Raw { alg, key: raw }
    } else {
        AeadKey::Expanded(Box::new(expanded))
    };
    Ok(Cipher::Aead { key, salt })
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl<S: SaState> SaCore<S> {
    /// Build an SA.
    ///
    /// # Errors
    /// [`EspError::InvalidConfig`] for a zero SPI, wrong key lengths, a missing or superfluous
    /// integrity key, tunnel mode without same-family outer addresses, or an OS random failure.
    pub fn new(cfg: &SaConfig<'_>) -> Result<Self, EspError> {
        Self::build(cfg, false)
    }

    /// Build an SA that keeps an AEAD key raw and expands it for each packet: the same
    /// packets, the same checks, a few hundred octets less per SA (see [`AeadKey`]). For the
    /// other algorithms this is [`Sa::new`].
    ///
    /// # Errors
    /// As [`Sa::new`].
    pub fn new_compact(cfg: &SaConfig<'_>) -> Result<Self, EspError> {
        Self::build(cfg, true)
    }

    fn build(cfg: &SaConfig<'_>, compact: bool) -> Result<Self, EspError> {
        if cfg.spi == 0 {
            return Err(EspError::InvalidConfig("SPI 0 is reserved (RFC 4303 §2.1)"));
        }
        let aead_only = |c: Cipher| {
            if cfg.integrity_key.is_some() {
                Err(EspError::InvalidConfig(
                    "combined-mode algorithms take no integrity key",
                ))
            } else {
                Ok(c)
            }
        };
        let cipher = match cfg.algorithm {
            Algorithm::AesGcm128 => aead_only(aead_key(&aead::AES_128_GCM, cfg.key, compact)?)?,
            Algorithm::AesGcm256 => aead_only(aead_key(&aead::AES_256_GCM, cfg.key, compact)?)?,
            Algorithm::ChaCha20Poly1305 => {
                aead_only(aead_key(&aead::CHACHA20_POLY1305, cfg.key, compact)?)?
            }
            Algorithm::AesCbcHmacSha256 => {
                let key = match cfg.key.len() {
                    16 => CbcKey::A128(
                        aes::Aes128::new_from_slice(cfg.key)
                            .map_err(|_| EspError::InvalidConfig("AES key"))?,
                    ),
                    24 => CbcKey::A192(
                        aes::Aes192::new_from_slice(cfg.key)
                            .map_err(|_| EspError::InvalidConfig("AES key"))?,
                    ),
                    32 => CbcKey::A256(
                        aes::Aes256::new_from_slice(cfg.key)
                            .map_err(|_| EspError::InvalidConfig("AES key"))?,
                    ),
                    _ => {
                        return Err(EspError::InvalidConfig(
                            "AES-CBC key must be 16, 24 or 32 octets",
                        ))
                    }
                };
                let mac = hmac_key(cfg.integrity_key)?
                    .ok_or(EspError::InvalidConfig("AES-CBC needs an integrity key"))?;
                let mut seed = [0u8; 16];
                getrandom::getrandom(&mut seed)
                    .map_err(|_| EspError::InvalidConfig("OS random source failed"))?;
                let iv_key = aes::Aes128::new(&seed.into());
                Cipher::Cbc {
                    key: Box::new(key),
                    iv_key: Box::new(iv_key),
                    mac,
                }
            }
            Algorithm::Null => {
                if !cfg.key.is_empty() {
                    return Err(EspError::InvalidConfig(
                        "NULL encryption takes an empty key",
                    ));
                }
                Cipher::Null {
                    mac: hmac_key(cfg.integrity_key)?,
                }
            }
        };
        let tunnel = match (cfg.mode, cfg.tunnel) {
            (Mode::Transport, None) => None,
            (Mode::Transport, Some(_)) => {
                return Err(EspError::InvalidConfig(
                    "tunnel addresses given for a transport-mode SA",
                ))
            }
            (Mode::Tunnel, Some((IpAddr::V6(s), IpAddr::V6(d)))) => {
                Some(Box::new(Tunnel::V6(s.octets(), d.octets())))
            }
            (Mode::Tunnel, Some((IpAddr::V4(s), IpAddr::V4(d)))) => {
                Some(Box::new(Tunnel::V4(s.octets(), d.octets())))
            }
            (Mode::Tunnel, Some(_)) => {
                return Err(EspError::InvalidConfig(
                    "tunnel source and destination differ in family",
                ))
            }
            // An inbound-only tunnel SA needs no outer addresses; encrypt will refuse.
            (Mode::Tunnel, None) => None,
        };
        Ok(Self {
            spi: cfg.spi,
            mode: cfg.mode,
            algorithm: cfg.algorithm,
            cipher,
            esn: cfg.esn,
            udp_encap: cfg.udp_encap,
            tunnel,
            seq_out: 0,
            state: S::default(),
        })
    }

    #[must_use]
    pub const fn spi(&self) -> u32 {
        self.spi
    }
    #[must_use]
    pub const fn mode(&self) -> Mode {
        self.mode
    }
    #[must_use]
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
    #[must_use]
    pub const fn esn(&self) -> bool {
        self.esn
    }
    /// Last sequence number sent (0 before the first packet).
    #[must_use]
    pub const fn seq_out(&self) -> u64 {
        self.seq_out
    }
    /// Continue sending after `seq` (resuming an SA; tests of exhaustion).
    pub fn set_seq_out(&mut self, seq: u64) {
        self.seq_out = seq;
    }
    /// Highest authenticated received sequence number (0 before the first).
    #[must_use]
    pub fn replay_top(&self) -> u64 {
        self.state.top()
    }
    /// Start the receive window at `top`, everything up to it seen (resume; tests).
    pub fn set_replay_top(&mut self, top: u64) {
        self.state.reset_to(top);
    }
    /// The anti-replay window size in packets.
    #[must_use]
    pub const fn replay_window_size(&self) -> u64 {
        if S::RECEIVES {
            ReplayWindow::<DEFAULT_WINDOW_WORDS>::SIZE
        } else {
            0
        }
    }
    #[must_use]
    pub fn counters(&self) -> SaCounters {
        self.state.counters()
    }

    /// Octets `encrypt_into` adds to a packet of `len` octets (exact).
    fn output_len(&self, front: usize, payload: usize) -> (usize, usize) {
        let align = self.cipher.align();
        let enc = (payload + 2).div_ceil(align) * align;
        let udp = if self.udp_encap.is_some() {
            ip::UDP_HDR
        } else {
            0
        };
        let total = front + udp + ESP_HDR + self.cipher.iv_len() + enc + self.cipher.icv_len();
        (total, enc)
    }

    fn next_seq(&self) -> Result<u64, EspError> {
        let next = self
            .seq_out
            .checked_add(1)
            .ok_or(EspError::SequenceNumberExhausted)?;
        if !self.esn && next > u64::from(u32::MAX) {
            return Err(EspError::SequenceNumberExhausted);
        }
        Ok(next)
    }

    fn aad(&self, seq: u64) -> ([u8; 12], usize) {
        esp_aad(self.spi, seq, self.esn)
    }

    /// Protect one IP packet: `packet` in, the ESP packet written to the start of `out`.
    /// Returns its length.
    ///
    /// Transport mode inserts ESP (in UDP if configured) after the IP header and any
    /// Hop-by-Hop / Routing / Destination Options headers; tunnel mode prepends a new IPv6 or
    /// IPv4 header. `out` needs `packet.len() + MAX_OVERHEAD` octets at most.
    ///
    /// # Errors
    /// `Truncated`/`Malformed` for an invalid packet, `SequenceNumberExhausted` when the
    /// counter would wrap (the SA is unchanged: rekey), `BufferTooSmall`, `TooBig`,
    /// `InvalidConfig` for tunnel output without outer addresses.
    pub fn encrypt_into(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        let r = self.encrypt_inner(packet, out);
        if let Err(e) = r {
            self.state.count_drop(e);
        }
        r
    }

    fn encrypt_inner(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        let split = match self.mode {
            Mode::Transport => ip::split(packet)?,
            Mode::Tunnel => ip::Split {
                version: ip::validate(packet)?,
                offset: 0,
                nh_at: 0,
                nh: 0,
            },
        };
        let (front, payload, next_header, version) = match self.mode {
            Mode::Transport => (
                split.offset,
                &packet[split.offset..],
                split.nh,
                split.version,
            ),
            Mode::Tunnel => {
                let nh = match split.version {
                    IpVersion::V6 => ip::PROTO_IPV6,
                    IpVersion::V4 => ip::PROTO_IPV4,
                };
                match self.tunnel.as_deref() {
                    Some(Tunnel::V6(..)) => (ip::IPV6_HDR, packet, nh, IpVersion::V6),
                    Some(Tunnel::V4(..)) => (ip::IPV4_MIN_HDR, packet, nh, IpVersion::V4),
                    None => {
                        return Err(EspError::InvalidConfig(
                            "tunnel mode output needs tunnel_src/tunnel_dst",
                        ))
                    }
                }
            }
        };
        let (total, enc_len) = self.output_len(front, payload.len());
        let max_total = match version {
            IpVersion::V6 => ip::IPV6_HDR + 0xffff,
            IpVersion::V4 => 0xffff,
        };
        if total > max_total {
            return Err(EspError::TooBig);
        }
        if out.len() < total {
            return Err(EspError::BufferTooSmall { needed: total });
        }
        let seq = self.next_seq()?;
        let out = &mut out[..total];

        // Outer / kept headers.
        let esp_proto = if self.udp_encap.is_some() {
            ip::PROTO_UDP
        } else {
            ip::PROTO_ESP
        };
        match (self.mode, self.tunnel.as_deref()) {
            (Mode::Tunnel, Some(Tunnel::V6(s, d))) => {
                ip::write_ipv6(out, s, d, esp_proto, total - ip::IPV6_HDR)?
            }
            (Mode::Tunnel, Some(Tunnel::V4(s, d))) => {
                ip::write_ipv4(out, s, d, esp_proto, total - ip::IPV4_MIN_HDR, seq as u16)?;
            }
            _ => {
                out[..front].copy_from_slice(&packet[..front]);
                out[split.nh_at] = esp_proto;
            }
        }
        let mut esp_off = front;
        if let Some((sport, dport)) = self.udp_encap {
            let udp_len = u16::try_from(total - front).map_err(|_| EspError::TooBig)?;
            out[front..front + 2].copy_from_slice(&sport.to_be_bytes());
            out[front + 2..front + 4].copy_from_slice(&dport.to_be_bytes());
            out[front + 4..front + 6].copy_from_slice(&udp_len.to_be_bytes());
            esp_off += ip::UDP_HDR;
        }

        // ESP header, IV, payload, trailer (RFC 4303 §2).
        out[esp_off..esp_off + 4].copy_from_slice(&self.spi.to_be_bytes());
        out[esp_off + 4..esp_off + 8].copy_from_slice(&(seq as u32).to_be_bytes());
        let iv_off = esp_off + ESP_HDR;
        let ct_off = iv_off + self.cipher.iv_len();
        let ct_end = ct_off + enc_len;
        out[ct_off..ct_off + payload.len()].copy_from_slice(payload);
        let pad = enc_len - payload.len() - 2;
        for (i, b) in out[ct_off + payload.len()..ct_end - 2]
            .iter_mut()
            .enumerate()
        {
            *b = (i + 1) as u8; // default padding 1, 2, 3, ... (§2.4)
        }
        out[ct_end - 2] = pad as u8;
        out[ct_end - 1] = next_header;

        let (aad, aad_len) = self.aad(seq);
        match &self.cipher {
            Cipher::Aead { key, salt } => {
                // RFC 4106 §3.1: the IV is the 64-bit sequence number — unique per SA.
                let iv = seq.to_be_bytes();
                out[iv_off..ct_off].copy_from_slice(&iv);
                let nonce = aead_nonce(salt, &iv);
                let tag = key.seal(
                    nonce,
                    aead::Aad::from(&aad[..aad_len]),
                    &mut out[ct_off..ct_end],
                )?;
                out[ct_end..ct_end + ICV_LEN].copy_from_slice(tag.as_ref());
            }
            Cipher::Cbc { key, iv_key, mac } => {
                let mut iv = aes::Block::default();
                iv[..8].copy_from_slice(&seq.to_be_bytes());
                iv_key.encrypt_block(&mut iv);
                out[iv_off..ct_off].copy_from_slice(&iv);
                cbc_encrypt(key, &iv, &mut out[ct_off..ct_end])?;
                let icv = esp_hmac(mac, &out[esp_off..ct_end], self.esn, seq);
                out[ct_end..ct_end + ICV_LEN].copy_from_slice(&icv.as_ref()[..ICV_LEN]);
            }
            Cipher::Null { mac: Some(mac) } => {
                let icv = esp_hmac(mac, &out[esp_off..ct_end], self.esn, seq);
                out[ct_end..ct_end + ICV_LEN].copy_from_slice(&icv.as_ref()[..ICV_LEN]);
            }
            Cipher::Null { mac: None } => {}
        }

        ip::fix_lengths(out, version)?;
        if self.udp_encap.is_some() {
            let (hdr, udp) = out.split_at_mut(front);
            let (src, dst) = ip::addresses(hdr, version);
            ip::fill_udp_checksum(src, dst, udp, version);
        }
        self.seq_out = seq;
        self.state.count_out(payload.len() as u64);
        Ok(total)
    }

    /// Unprotect one IP packet: `packet` in, the packet without ESP written to the start of
    /// `out` (`out.len() >= packet.len()`). Returns its length; 0 means an authentic dummy
    /// packet (Next Header 59, RFC 4303 §2.6) that the caller drops.
    ///
    /// Transport mode returns the packet with ESP (and an RFC 3948 UDP header) removed, the
    /// Next Header/Protocol and lengths fixed; tunnel mode returns the inner packet.
    ///
    /// # Errors
    /// `Truncated`, `Malformed`, `NotEsp` (not ESP; UDP non-ESP marker or keepalive),
    /// `UnknownSpi`, `Replayed`, `IntegrityCheckFailed`, `BadPadding`, `BufferTooSmall`.
    /// On every error the SA's window and counters (except the drop counter) are unchanged.
    pub fn decrypt_into(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        let r = self.decrypt_inner(packet, out);
        if let Err(e) = r {
            self.state.count_drop(e);
        }
        r
    }

    /// Locate the ESP header: `(split, esp_offset)`.
    fn locate(&self, packet: &[u8]) -> Result<(ip::Split, usize), EspError> {
        let split = ip::split(packet)?;
        let esp_off = match split.nh {
            ip::PROTO_ESP => split.offset,
            // RFC 3948 §2: ESP in UDP (accept it whenever the SA uses UDP encapsulation).
            ip::PROTO_UDP if self.udp_encap.is_some() => {
                let udp = packet
                    .get(split.offset..split.offset + ip::UDP_HDR)
                    .ok_or(EspError::Truncated)?;
                let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
                if udp_len != packet.len() - split.offset {
                    return Err(EspError::Malformed("UDP length"));
                }
                let body = &packet[split.offset + ip::UDP_HDR..];
                // §2.2 keepalive (one 0xFF octet), §2.2 non-ESP marker (4 zero octets: IKE).
                if body == [0xff] || body.get(..4) == Some(&[0, 0, 0, 0]) {
                    return Err(EspError::NotEsp);
                }
                split.offset + ip::UDP_HDR
            }
            _ => return Err(EspError::NotEsp),
        };
        Ok((split, esp_off))
    }

    fn decrypt_inner(&mut self, packet: &[u8], out: &mut [u8]) -> Result<usize, EspError> {
        if !S::RECEIVES {
            return Err(EspError::InvalidConfig(
                "an outbound-only SA cannot decrypt",
            ));
        }
        let (split, esp_off) = self.locate(packet)?;
        let iv_len = self.cipher.iv_len();
        let icv_len = self.cipher.icv_len();
        let esp_len = packet.len() - esp_off;
        if esp_len < ESP_HDR + iv_len + 2 + icv_len {
            return Err(EspError::Truncated);
        }
        let ct_off = esp_off + ESP_HDR + iv_len;
        let ct_end = packet.len() - icv_len;
        let enc_len = ct_end - ct_off;
        if matches!(self.cipher, Cipher::Cbc { .. }) && !enc_len.is_multiple_of(AES_BLOCK) {
            return Err(EspError::Malformed(
                "CBC ciphertext is not a whole number of blocks",
            ));
        }

        // 1. SPI.
        let spi = u32::from_be_bytes([
            packet[esp_off],
            packet[esp_off + 1],
            packet[esp_off + 2],
            packet[esp_off + 3],
        ]);
        if spi != self.spi {
            return Err(EspError::UnknownSpi(spi));
        }
        // 2. Anti-replay pre-check (only with an integrity service, RFC 4303 §3.4.3).
        let seq_low = u32::from_be_bytes([
            packet[esp_off + 4],
            packet[esp_off + 5],
            packet[esp_off + 6],
            packet[esp_off + 7],
        ]);
        let seq = if self.esn {
            (u64::from(self.state.infer_high(seq_low)) << 32) | u64::from(seq_low)
        } else {
            u64::from(seq_low)
        };
        let replay_protected = self.cipher.has_integrity();
        if replay_protected {
            self.state.check(seq).map_err(EspError::Replayed)?;
        }
        if out.len() < packet.len() {
            return Err(EspError::BufferTooSmall {
                needed: packet.len(),
            });
        }

        // 3. Integrity, then decryption.
        let (aad, aad_len) = self.aad(seq);
        let pt_len = match &self.cipher {
            Cipher::Aead { key, salt } => {
                out[..packet.len()].copy_from_slice(packet);
                let mut iv = [0u8; AEAD_IV];
                iv.copy_from_slice(&packet[ct_off - AEAD_IV..ct_off]);
                let nonce = aead_nonce(salt, &iv);
                key.open(
                    nonce,
                    aead::Aad::from(&aad[..aad_len]),
                    &mut out[ct_off..packet.len()],
                )?
                .len()
            }
            Cipher::Cbc { key, mac, .. } => {
                let icv = esp_hmac(mac, &packet[esp_off..ct_end], self.esn, seq);
                if !ct_eq(&icv.as_ref()[..ICV_LEN], &packet[ct_end..]) {
                    return Err(EspError::IntegrityCheckFailed);
                }
                out[..ct_end].copy_from_slice(&packet[..ct_end]);
                let mut iv = aes::Block::default();
                iv.copy_from_slice(&packet[ct_off - AES_BLOCK..ct_off]);
                cbc_decrypt(key, &iv, &mut out[ct_off..ct_end])?;
                enc_len
            }
            Cipher::Null { mac } => {
                if let Some(mac) = mac {
                    let icv = esp_hmac(mac, &packet[esp_off..ct_end], self.esn, seq);
                    if !ct_eq(&icv.as_ref()[..ICV_LEN], &packet[ct_end..]) {
                        return Err(EspError::IntegrityCheckFailed);
                    }
                }
                out[..ct_end].copy_from_slice(&packet[..ct_end]);
                enc_len
            }
        };

        // 4. Trailer (RFC 4303 §2.4–2.6).
        let trailer = ct_off + pt_len;
        let next_header = out[trailer - 1];
        let pad_len = usize::from(out[trailer - 2]);
        if pad_len + 2 > pt_len {
            return Err(EspError::BadPadding);
        }
        let data_len = pt_len - 2 - pad_len;
        let pad = &out[ct_off + data_len..trailer - 2];
        if pad
            .iter()
            .enumerate()
            .any(|(i, &b)| usize::from(b) != i + 1)
        {
            return Err(EspError::BadPadding);
        }
        let dummy = next_header == ip::PROTO_NONE;
        if !dummy
            && self.mode == Mode::Tunnel
            && next_header != ip::PROTO_IPV6
            && next_header != ip::PROTO_IPV4
        {
            return Err(EspError::Malformed(
                "tunnel-mode next header is not IPv4/IPv6",
            ));
        }
        if !dummy && self.mode == Mode::Tunnel {
            // The inner packet must be a whole IP packet of the announced version.
            let inner = &out[ct_off..ct_off + data_len];
            let want = if next_header == ip::PROTO_IPV6 { 6 } else { 4 };
            if inner.first().map(|b| b >> 4) != Some(want) {
                return Err(EspError::Malformed("inner packet version"));
            }
            ip::validate(inner)?;
        }

        // 5. Authentic and well-formed: move the window, count.
        if replay_protected {
            self.state.mark(seq);
        }
        if dummy {
            self.state.count_dummy();
            return Ok(0);
        }
        self.state.count_in(data_len as u64);
        match self.mode {
            Mode::Tunnel => {
                out.copy_within(ct_off..ct_off + data_len, 0);
                Ok(data_len)
            }
            Mode::Transport => {
                let len = split.offset + data_len;
                out.copy_within(ct_off..ct_off + data_len, split.offset);
                out[split.nh_at] = next_header;
                ip::fix_lengths(&mut out[..len], split.version)?;
                Ok(len)
            }
        }
    }

    /// Encrypt every packet of `packets` into `batch` (cleared first).
    pub fn encrypt_batch<'p>(
        &mut self,
        packets: impl IntoIterator<Item = &'p [u8]>,
        batch: &mut Batch,
    ) {
        self.run_batch(packets, batch, MAX_OVERHEAD, Self::encrypt_into);
    }

    /// Decrypt every packet of `packets` into `batch` (cleared first).
    pub fn decrypt_batch<'p>(
        &mut self,
        packets: impl IntoIterator<Item = &'p [u8]>,
        batch: &mut Batch,
    ) {
        self.run_batch(packets, batch, 0, Self::decrypt_into);
    }

    fn run_batch<'p>(
        &mut self,
        packets: impl IntoIterator<Item = &'p [u8]>,
        batch: &mut Batch,
        growth: usize,
        op: PacketOp<S>,
    ) {
        batch.items.clear();
        let mut cursor = 0;
        for p in packets {
            let need = cursor + p.len() + growth;
            if batch.buf.len() < need {
                batch.buf.resize(need, 0);
            }
            let r = op(self, p, &mut batch.buf[cursor..need]);
            batch.items.push(r.map(|n| {
                let range = cursor..cursor + n;
                cursor += n;
                range
            }));
        }
    }
}

/// RFC 4106 §5 / RFC 7634 §2.1: AAD = SPI ‖ Seq (8 octets) or SPI ‖ Seq-high ‖ Seq-low (ESN).
pub(crate) fn esp_aad(spi: u32, seq: u64, esn: bool) -> ([u8; 12], usize) {
    let mut aad = [0u8; 12];
    aad[..4].copy_from_slice(&spi.to_be_bytes());
    if esn {
        aad[4..12].copy_from_slice(&seq.to_be_bytes());
        (aad, 12)
    } else {
        aad[4..8].copy_from_slice(&(seq as u32).to_be_bytes());
        (aad, 8)
    }
}

/// Build an AEAD ESP payload (SPI ‖ Seq-low ‖ IV ‖ ciphertext ‖ ICV) from a plaintext that
/// already carries its trailer, with a chosen IV: the packaging of [`Sa::encrypt_into`]
/// without its IV policy, for vectors and for crafting bad packets in tests.
#[cfg(test)]
pub(crate) fn esp_aead_wire(
    alg: &'static aead::Algorithm,
    keymat: &[u8],
    spi: u32,
    seq: u64,
    esn: bool,
    iv: &[u8; AEAD_IV],
    plaintext_with_trailer: &[u8],
) -> Vec<u8> {
    let Ok(Cipher::Aead { key, salt }) = aead_key(alg, keymat, false) else {
        panic!("bad test key");
    };
    let mut wire = Vec::new();
    wire.extend_from_slice(&spi.to_be_bytes());
    wire.extend_from_slice(&(seq as u32).to_be_bytes());
    wire.extend_from_slice(iv);
    let mut body = plaintext_with_trailer.to_vec();
    let (aad, n) = esp_aad(spi, seq, esn);
    let tag = key
        .seal(aead_nonce(&salt, iv), aead::Aad::from(&aad[..n]), &mut body)
        .unwrap();
    wire.extend_from_slice(&body);
    wire.extend_from_slice(tag.as_ref());
    wire
}

/// `encrypt_into` or `decrypt_into`.
type PacketOp<S> = fn(&mut SaCore<S>, &[u8], &mut [u8]) -> Result<usize, EspError>;

fn aead_nonce(salt: &[u8; SALT], iv: &[u8; AEAD_IV]) -> aead::Nonce {
    // RFC 4106 §4 / RFC 7634 §2: nonce = salt ‖ explicit IV.
    let mut n = [0u8; aead::NONCE_LEN];
    n[..SALT].copy_from_slice(salt);
    n[SALT..].copy_from_slice(iv);
    aead::Nonce::assume_unique_for_key(n)
}

/// RFC 4303 §3.3.4 / RFC 4868: HMAC over SPI ‖ Seq ‖ IV ‖ ciphertext, then the ESN high
/// bits when ESN is on (§2.2.1: appended, not transmitted).
fn esp_hmac(mac: &hmac::Key, data: &[u8], esn: bool, seq: u64) -> hmac::Tag {
    let mut ctx = hmac::Context::with_key(mac);
    ctx.update(data);
    if esn {
        ctx.update(&((seq >> 32) as u32).to_be_bytes());
    }
    ctx.sign()
}

fn cbc_encrypt(key: &CbcKey, iv: &aes::Block, buf: &mut [u8]) -> Result<(), EspError> {
    let len = buf.len();
    let r = match key {
        CbcKey::A128(k) => cbc::Encryptor::inner_iv_init(k.clone(), iv)
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        CbcKey::A192(k) => cbc::Encryptor::inner_iv_init(k.clone(), iv)
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
        CbcKey::A256(k) => cbc::Encryptor::inner_iv_init(k.clone(), iv)
            .encrypt_padded_mut::<NoPadding>(buf, len)
            .map(|_| ()),
    };
    r.map_err(|_| EspError::Malformed("CBC block alignment"))
}

fn cbc_decrypt(key: &CbcKey, iv: &aes::Block, buf: &mut [u8]) -> Result<(), EspError> {
    let r = match key {
        CbcKey::A128(k) => cbc::Decryptor::inner_iv_init(k.clone(), iv)
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        CbcKey::A192(k) => cbc::Decryptor::inner_iv_init(k.clone(), iv)
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
        CbcKey::A256(k) => cbc::Decryptor::inner_iv_init(k.clone(), iv)
            .decrypt_padded_mut::<NoPadding>(buf)
            .map(|_| ()),
    };
    r.map_err(|_| EspError::Malformed("CBC block alignment"))
}
