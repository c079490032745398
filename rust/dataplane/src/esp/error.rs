//! ESP processing errors: a small `Copy` enum, no allocation (STYLE §2.5).

use core::fmt;

/// Why an ESP operation failed. Every failure leaves the SA unchanged (no window move, no
/// counter change except the per-reason drop counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspError {
    /// The packet is shorter than a header it contains or announces.
    Truncated,
    /// A length or version field is inconsistent with the packet (`&str` names the field).
    Malformed(&'static str),
    /// The packet is not ESP where ESP was expected (protocol number, non-ESP marker, keepalive).
    NotEsp,
    /// No SA for this SPI (and destination).
    UnknownSpi(u32),
    /// The sequence number is a duplicate or left of the anti-replay window (RFC 4303 §3.4.3).
    Replayed(u64),
    /// The ICV did not verify (RFC 4303 §3.4.4).
    IntegrityCheckFailed,
    /// The decrypted trailer has an impossible pad length or non-default padding (§2.4).
    BadPadding,
    /// The next sequence number would wrap: the SA must be rekeyed (§3.3.3).
    SequenceNumberExhausted,
    /// The output buffer cannot hold the result (a caller bug; `needed` octets).
    BufferTooSmall { needed: usize },
    /// The result would exceed the maximum IP packet length.
    TooBig,
    /// The SA cannot be built from these parameters.
    InvalidConfig(&'static str),
}

impl fmt::Display for EspError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "truncated packet"),
            Self::Malformed(what) => write!(f, "malformed packet: {what}"),
            Self::NotEsp => write!(f, "not an ESP packet"),
            Self::UnknownSpi(spi) => write!(f, "no security association for SPI {spi:#010x}"),
            Self::Replayed(seq) => write!(f, "replayed sequence number {seq}"),
            Self::IntegrityCheckFailed => write!(f, "ICV verification failed"),
            Self::BadPadding => write!(f, "bad ESP padding"),
            Self::SequenceNumberExhausted => {
                write!(f, "sequence number space exhausted: the SA needs a rekey")
            }
            Self::BufferTooSmall { needed } => {
                write!(f, "output buffer too small ({needed} needed)")
            }
            Self::TooBig => write!(f, "packet would exceed the maximum IP length"),
            Self::InvalidConfig(what) => write!(f, "invalid security association: {what}"),
        }
    }
}

impl std::error::Error for EspError {}
