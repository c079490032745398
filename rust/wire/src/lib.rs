//! DSMIPv6 wire formats, in pure Rust (no Python, no I/O, no allocation on the parse path).
//!
//! Every header follows the same pattern (STYLE §2, shape borrowed from smoltcp):
//!
//! * a zero-copy **view** `Foo<T: AsRef<[u8]>>` with `new_unchecked`, `new_checked`, `check_len`
//!   and `into_inner`; getters need `AsRef<[u8]>`, setters `AsMut<[u8]>`; offsets live in a
//!   private `mod field` of named ranges;
//! * a **Repr** (`FooRepr`) with `parse(&view, ..)`, `buffer_len()` and `emit(&mut view, ..)`;
//!   parse and emit are exact inverses: `emit(parse(x)) == x` for every `x` that parses.
//!
//! # The no-panic contract
//!
//! * After `check_len()` (or `new_checked`) returned `Ok`, no accessor of the view panics.
//! * `parse` never panics and never reads past the buffer, whatever the bytes.
//! * `emit` never panics on a buffer of exactly `buffer_len()` octets (a shorter buffer is a
//!   caller bug, documented under `# Panics`).
//!
//! Untrusted bytes always go through `new_checked` / `parse`; emission never does.
//!
//! Errors are a small `Copy` value ([`Error`]) carrying the reason ([`ErrorKind`]) and the octet
//! offset where the problem was found, relative to the buffer handed to the parser.

#![deny(unsafe_code)]

#[macro_use]
mod macros;

pub mod checksum;
pub mod esp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6opt;
pub mod ipv6routing;
pub mod mh;
pub mod mhopt;
pub mod packet;
pub mod tlv;
pub mod udp;

pub use esp::{EspHeader, EspRepr, EspTrailerRepr};
pub use ip::IpProtocol;
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ipv6opt::{DestOptsHeader, DestOptsRepr, Ipv6OptionRepr, Ipv6Options};
pub use ipv6routing::{RoutingHeader2, RoutingHeader2Repr};
pub use mh::{MhMessage, MhType, MobilityHeader, MobilityRepr};
pub use mhopt::{MobilityOptionRepr, MobilityOptionType, MobilityOptions};
pub use packet::{parse_packet, parse_packet_with, Layer, Layers};
pub use udp::{UdpPacket, UdpRepr};

use core::fmt;

/// Named octet ranges used by every `mod field`.
pub(crate) mod field {
    pub type Field = core::ops::Range<usize>;
}

/// Why a buffer did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The buffer ends before the structure does.
    Truncated,
    /// A length field is inconsistent (too small for the fixed part, not a multiple of 8, ...).
    BadLength,
    /// A checksum does not verify (Mobility Header, UDP, IPv4 header).
    BadChecksum,
    /// An option's Type octet is not at its required `xn+y` offset.
    BadAlignment,
    /// The IP version nibble is not the expected one.
    BadVersion,
    /// A reserved field that the representation does not keep is not zero.
    NonZeroReserved,
    /// A field holds a value the specification forbids (e.g. RH2 Segments Left != 1).
    BadValue,
    /// A well-formed construct this codec does not handle (IPv4 options, fragments, ...).
    Unsupported,
    /// Octets remain after the structure that the length fields describe.
    TrailingData,
    /// The packet nests more layers than [`packet::MAX_LAYERS`].
    TooManyLayers,
}

impl ErrorKind {
    /// A short machine-friendly word (`"truncated"`, `"bad-length"`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Truncated => "truncated",
            ErrorKind::BadLength => "bad-length",
            ErrorKind::BadChecksum => "bad-checksum",
            ErrorKind::BadAlignment => "bad-alignment",
            ErrorKind::BadVersion => "bad-version",
            ErrorKind::NonZeroReserved => "non-zero-reserved",
            ErrorKind::BadValue => "bad-value",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TrailingData => "trailing-data",
            ErrorKind::TooManyLayers => "too-many-layers",
        }
    }
}

/// A parse error: what went wrong and where (octet offset from the start of the buffer given
/// to the parser). Small and `Copy`; no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    pub kind: ErrorKind,
    pub offset: usize,
}

impl Error {
    pub const fn new(kind: ErrorKind, offset: usize) -> Error {
        Error { kind, offset }
    }
    /// The same error seen from a buffer that starts `base` octets earlier.
    pub const fn shift(self, base: usize) -> Error {
        Error {
            kind: self.kind,
            offset: self.offset.saturating_add(base),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.kind.as_str(), self.offset)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = core::result::Result<T, Error>;

pub(crate) const fn err<T>(kind: ErrorKind, offset: usize) -> Result<T> {
    Err(Error::new(kind, offset))
}

/// Read a big-endian u16 at `at`; the caller has checked the length.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn addr6(b: &[u8], at: usize) -> core::net::Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    core::net::Ipv6Addr::from(a)
}

#[inline(always)]
pub(crate) fn addr4(b: &[u8], at: usize) -> core::net::Ipv4Addr {
    core::net::Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}
