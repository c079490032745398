//! The Internet checksum (RFC 1071) and the pseudo-headers of RFC 8200 §8.1 (IPv6) and
//! RFC 768 (IPv4). Pseudo-header addresses are always explicit arguments (STYLE §2.4): the
//! caller decides whether the Home Address option / Type 2 Routing header substitutes them.

use core::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` (odd length padded with a zero octet), not yet folded.
#[inline]
pub fn sum(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        acc += u64::from(u32::from_be_bytes([c[4], c[5], c[6], c[7]]));
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Fold a wide sum to 16 bits (not complemented).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, upper-layer length,
/// three zero octets, next header.
#[inline]
pub fn pseudo_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: u32) -> u64 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc + u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header)
}

/// Sum of the IPv4 pseudo-header (RFC 768): source, destination, zero, protocol, length.
#[inline]
pub fn pseudo_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: u8, length: u16) -> u64 {
    let mut acc = sum(0, &src.octets());
    acc = sum(acc, &dst.octets());
    acc + u64::from(protocol) + u64::from(length)
}

/// Complemented checksum of `data` on top of a pseudo-header sum.
#[inline]
pub fn checksum(pseudo: u64, data: &[u8]) -> u16 {
    !fold(sum(pseudo, data))
}

/// True when `data` (checksum field included) sums to all-ones over the pseudo-header.
#[inline]
pub fn verify(pseudo: u64, data: &[u8]) -> bool {
    if cfg!(fuzzing) {
        return true;
    }
    fold(sum(pseudo, data)) == 0xffff
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(0, &data)), 0xddf2);
        assert_eq!(
            fold(sum(0, &data[..7])),
            fold(sum(0, &[0, 1, 0xf2, 3, 0xf4, 0xf5, 0xf6, 0]))
        );
    }
}
