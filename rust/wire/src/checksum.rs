//! The Internet checksum (RFC 1071) and the pseudo-headers of RFC 8200 §8.1 (IPv6) and
//! RFC 768 (IPv4). Pseudo-header addresses are always explicit arguments (STYLE §2.4): the
//! caller decides whether the Home Address option / Type 2 Routing header substitutes them.

use core::net::{Ipv4Addr, Ipv6Addr};

/// One's-complement sum of `data` (odd length padded with a zero octet) added to `acc`, not
/// yet folded; the part contributed by `data` is at most 0xffff, so callers may keep adding.
///
/// The octets are summed as native-endian 64-bit words with end-around carry and folded once:
/// the one's-complement sum does not depend on the word size or the byte order as long as the
/// result is folded to 16 bits and swapped back (RFC 1071 §2 (A), (B), (C)).
#[inline]
pub fn sum(acc: u64, data: &[u8]) -> u64 {
    acc + network_order(native_sum(0, data))
}

/// Add `data` to a native-endian 64-bit one's-complement accumulator (end-around carry).
#[inline(always)]
fn native_sum(mut s: u64, data: &[u8]) -> u64 {
    #[inline(always)]
    fn add(s: u64, w: u64) -> u64 {
        let (t, carry) = s.overflowing_add(w);
        // With a carry out, t <= 2^64 - 2: adding it back cannot overflow.
        t + u64::from(carry)
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        s = add(s, u64::from_ne_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Zero padding after the tail: an odd last octet is the high octet of its 16-bit word.
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        s = add(s, u64::from_ne_bytes(w));
    }
    s
}

/// Fold a native-endian accumulator to 16 bits and return it in network order.
#[inline(always)]
fn network_order(s: u64) -> u64 {
    // Each step keeps the value congruent modulo 0xffff, and non-zero if it was.
    let mut f = (s & 0xffff_ffff) + (s >> 32);
    f = (f & 0xffff) + (f >> 16);
    f = (f & 0xffff) + (f >> 16);
    f = (f & 0xffff) + (f >> 16);
    // On a little-endian machine each 16-bit word was read byte-swapped; swapping is linear
    // in one's-complement arithmetic (RFC 1071 §2 (B)), so swap the folded sum back.
    let f = f as u16;
    u64::from(if cfg!(target_endian = "little") {
        f.swap_bytes()
    } else {
        f
    })
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
    let acc = network_order(native_sum(native_sum(0, &src.octets()), &dst.octets()));
    acc + u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header)
}

/// Sum of the IPv4 pseudo-header (RFC 768): source, destination, zero, protocol, length.
#[inline]
pub fn pseudo_v4(src: &Ipv4Addr, dst: &Ipv4Addr, protocol: u8, length: u16) -> u64 {
    let acc = network_order(native_sum(native_sum(0, &src.octets()), &dst.octets()));
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

    /// The textbook definition: 16-bit big-endian words, odd octet padded, end-around carry.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for p in data.chunks(2) {
            let w = u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]);
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn wide_sum_matches_the_definition() {
        // Every length 0..=80 (all tails), all-ones (carries everywhere), a varied pattern.
        let mut x: u32 = 0x1234_5678;
        let varied: Vec<u8> = (0..80)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        for data in [vec![0xffu8; 80], varied, vec![0u8; 80]] {
            for n in 0..=data.len() {
                let d = &data[..n];
                assert_eq!(fold(sum(0, d)), reference(d), "len {n}");
                // Zero stays zero, non-zero never folds to zero.
                assert_eq!(fold(sum(0, d)) == 0, d.iter().all(|b| *b == 0));
                assert_eq!(fold(sum(7, d)), reference(&[&[0, 7][..], d].concat()));
            }
        }
    }

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
