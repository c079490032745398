//! Mobility Header sequence numbers: comparison modulo 2^16 (RFC 6275 §9.5.1).
//!
//! A received sequence number `s` is "newer" than the last accepted `last` when it lies in the
//! half of the 16-bit circle that follows `last`: `0 < (s - last) mod 2^16 < 2^15`.

/// True when `received` is newer than `last` in modulo-2^16 order (RFC 6275 §9.5.1).
///
/// Equal numbers are not newer; the number exactly half a circle away (`last + 32768`) is not
/// newer either (it lies in the "older" half in the RFC's example).
#[must_use]
pub const fn seq_newer(received: u16, last: u16) -> bool {
    let diff = received.wrapping_sub(last);
    diff != 0 && diff < 0x8000
}

#[cfg(test)]
mod test {
    use super::seq_newer;

    /// test-vectors.md §9.1: last accepted 15 → 0..=15 and 32783..=65535 are not newer,
    /// 16..=32782 are newer; wrap: last 65535 → 0 newer; last 0 → 65535 stale.
    #[test]
    fn rfc6275_example() {
        for s in 0..=15u16 {
            assert!(!seq_newer(s, 15), "{s}");
        }
        for s in 16..=32782u16 {
            assert!(seq_newer(s, 15), "{s}");
        }
        for s in 32783..=65535u16 {
            assert!(!seq_newer(s, 15), "{s}");
        }
        assert!(seq_newer(0, 65535));
        assert!(!seq_newer(65535, 0));
    }
}
