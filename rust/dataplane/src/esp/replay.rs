//! Anti-replay window with extended sequence numbers (RFC 4303 §3.4.3, Appendix A2).
//!
//! The window is a fixed bitmap of `64 * WORDS` bits (STYLE §3) indexed by `seq mod W`,
//! so advancing never shifts memory: it only clears the bits of the skipped numbers.
//! Use: [`ReplayWindow::infer_high`] (ESN only) → [`ReplayWindow::check`] before the ICV →
//! [`ReplayWindow::mark`] after the ICV (and padding) verified.

/// Default window: 16 words = 1024 packets.
pub const DEFAULT_WINDOW_WORDS: usize = 16;

/// The receive state of one SA: `top` is the highest authenticated 64-bit sequence number
/// (T in RFC 4303 Appendix A; 0 = nothing received yet).
#[derive(Debug, Clone)]
pub struct ReplayWindow<const WORDS: usize> {
    top: u64,
    bitmap: [u64; WORDS],
}

impl<const WORDS: usize> Default for ReplayWindow<WORDS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const WORDS: usize> ReplayWindow<WORDS> {
    /// Window size W in packets.
    pub const SIZE: u64 = 64 * WORDS as u64;

    /// An empty window (no packet received).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            top: 0,
            bitmap: [0; WORDS],
        }
    }

    /// Highest authenticated sequence number (0 before the first packet).
    #[must_use]
    pub const fn top(&self) -> u64 {
        self.top
    }

    /// Start from `top` as if every number up to and including it had been received
    /// (used to resume an SA, and by tests that need a given T).
    pub fn reset_to(&mut self, top: u64) {
        self.top = top;
        self.bitmap = [u64::MAX; WORDS];
    }

    /// The high 32 bits the sender most likely used for a packet whose low bits are `seq_low`
    /// (RFC 4303 Appendix A2.2, with the window size W of this window). Needed before the
    /// ICV check because Seq-high is authenticated.
    #[must_use]
    pub fn infer_high(&self, seq_low: u32) -> u32 {
        let w = Self::SIZE as u32;
        let tl = self.top as u32;
        let th = (self.top >> 32) as u32;
        if tl >= w - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if seq_low >= tl - (w - 1) {
                th
            } else {
                th.wrapping_add(1)
            }
        } else if seq_low >= tl.wrapping_sub(w - 1) {
            // Case B: the window straddles a subspace boundary; seq_low is in its lower part.
            // In the first subspace (Th = 0) there is no lower part: the packet can only be
            // ahead in subspace 0 (RFC 4303 A2.2 would wrap Th - 1 and fail the ICV).
            th.saturating_sub(1)
        } else {
            th
        }
    }

    /// Whether `seq` may be accepted: not 0, not left of the window, not already seen.
    ///
    /// # Errors
    /// `Err(seq)` when the number must be rejected as a replay.
    pub fn check(&self, seq: u64) -> Result<(), u64> {
        if seq == 0 {
            return Err(seq);
        }
        if seq > self.top {
            return Ok(());
        }
        if self.top - seq >= Self::SIZE {
            return Err(seq);
        }
        let (word, bit) = Self::position(seq);
        if self.bitmap[word] & (1 << bit) != 0 {
            Err(seq)
        } else {
            Ok(())
        }
    }

    /// Record `seq` as received (call only after `check` passed and the ICV verified).
    pub fn mark(&mut self, seq: u64) {
        if seq > self.top {
            let advance = seq - self.top;
            if advance >= Self::SIZE {
                self.bitmap = [0; WORDS];
            } else {
                // Clear the bits of every number skipped over (top+1 ..= seq).
                let mut i = 1u64;
                while i <= advance {
                    let (word, bit) = Self::position(self.top + i);
                    if bit == 0 && advance - i >= 63 {
                        self.bitmap[word] = 0;
                        i += 64;
                    } else {
                        self.bitmap[word] &= !(1 << bit);
                        i += 1;
                    }
                }
            }
            self.top = seq;
        }
        let (word, bit) = Self::position(seq);
        self.bitmap[word] |= 1 << bit;
    }

    #[inline]
    fn position(seq: u64) -> (usize, u32) {
        let idx = seq % Self::SIZE;
        ((idx / 64) as usize, (idx % 64) as u32)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    type W64 = ReplayWindow<1>;
    type W1024 = ReplayWindow<DEFAULT_WINDOW_WORDS>;

    #[test]
    fn sizes() {
        assert_eq!(W64::SIZE, 64);
        assert_eq!(W1024::SIZE, 1024);
    }

    #[test]
    fn top_of_the_64_bit_space() {
        let mut w = W1024::new();
        w.reset_to(u64::MAX - 5);
        assert!(w.check(u64::MAX).is_ok());
        w.mark(u64::MAX);
        assert_eq!(w.check(u64::MAX), Err(u64::MAX));
        assert!(w.check(u64::MAX - 5).is_err()); // seen via reset_to
        assert!(w.check(u64::MAX - 1).is_ok()); // skipped over, not seen
    }

    #[test]
    fn first_subspace_has_no_previous_one() {
        let w = W1024::new();
        assert_eq!(w.infer_high(0xFFFF_FFF0), 0);
        let mut w = W1024::new();
        w.mark((1 << 32) + 3);
        assert_eq!(w.infer_high(0xFFFF_FFF0), 0); // Th - 1
    }

    #[test]
    fn zero_is_never_valid() {
        let w = W1024::new();
        assert_eq!(w.check(0), Err(0));
    }

    #[test]
    fn duplicates_and_old_numbers_rejected() {
        let mut w = W1024::new();
        for s in [1u64, 2, 5, 4, 1000] {
            assert!(w.check(s).is_ok());
            w.mark(s);
            assert_eq!(w.check(s), Err(s));
        }
        assert!(w.check(3).is_ok());
        // 1000 - 1024 < 0: everything from 1 is still inside the window.
        assert_eq!(w.check(2), Err(2));
        w.mark(2000);
        // left edge is 2000 - 1023 = 977
        assert_eq!(w.check(976), Err(976));
        assert!(w.check(977).is_ok());
        assert_eq!(w.check(1000), Err(1000));
        assert!(w.check(1999).is_ok());
    }

    #[test]
    fn skipped_bits_are_cleared_when_advancing() {
        let mut w = W64::new();
        for s in 1..=64u64 {
            w.mark(s);
        }
        // Advance by 10: numbers 65..=74 reuse the bit positions of 1..=10 and must be clear.
        w.mark(74);
        for s in 65..74u64 {
            assert!(w.check(s).is_ok(), "{s}");
        }
        assert_eq!(w.check(74), Err(74));
        assert_eq!(w.check(10), Err(10)); // left of window now (74-64 = 10)
        assert_eq!(w.check(11), Err(11)); // inside and seen
                                          // A large jump clears everything.
        w.mark(10_000);
        for s in 9_937..10_000u64 {
            assert!(w.check(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn word_clearing_matches_bitwise_clearing() {
        // Compare against a reference model over a pseudo-random walk.
        let mut w = W1024::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut top = 0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let step = x % 1500;
            let seq = if x & 1 == 0 {
                top + step % 300 + 1
            } else {
                top.saturating_sub(step).max(1)
            };
            let model_ok = seq != 0 && !(seq <= top && (top - seq >= 1024 || seen.contains(&seq)));
            assert_eq!(w.check(seq).is_ok(), model_ok, "seq {seq} top {top}");
            if model_ok {
                w.mark(seq);
                seen.insert(seq);
                top = top.max(seq);
            }
        }
    }

    /// test-vectors.md §9.4, case A (W = 64, T = 0x1_FFFFFFF0).
    #[test]
    fn esn_case_a() {
        let mut w = W64::new();
        w.reset_to(0x0000_0001_FFFF_FFF0);
        // Bl = 0xFFFFFFB1
        assert_eq!(w.infer_high(0xFFFF_FFC0), 1);
        let mut fresh = W64::new();
        fresh.mark(0x0000_0001_FFFF_FFF0);
        assert!(fresh.check(0x0000_0001_FFFF_FFC0).is_ok()); // bit 48 below T, unseen
        assert_eq!(fresh.infer_high(0xFFFF_FFF0), 1);
        assert!(fresh.check(0x0000_0001_FFFF_FFF0).is_err()); // duplicate of right edge
        assert_eq!(fresh.infer_high(0x0000_0005), 2);
        assert!(fresh.check(0x0000_0002_0000_0005).is_ok());
        // A stale 0x1_FFFFFF00 is read as 0x2_FFFFFF00 once T moved to 0x2_00000005 ...
        let mut moved = fresh.clone();
        moved.mark(0x0000_0002_0000_0005);
        assert_eq!(moved.top(), 0x0000_0002_0000_0005);
        // ... (case B now: Tl = 5 < 63) so 0xFFFFFF00 falls below the window's lower part
        assert_eq!(moved.infer_high(0xFFFF_FF00), 2);
        // ... and before the move (case A), 0xFFFFFF00 is below Bl so it is read as Th + 1 = 2.
        assert_eq!(fresh.infer_high(0xFFFF_FF00), 2);
    }

    /// test-vectors.md §9.4, case B (W = 64, T = 0x2_00000010).
    #[test]
    fn esn_case_b() {
        let mut w = W64::new();
        w.mark(0x0000_0002_0000_0010);
        assert_eq!(w.infer_high(0xFFFF_FFE0), 1);
        assert!(w.check(0x0000_0001_FFFF_FFE0).is_ok()); // 48 below T, inside
        assert_eq!(w.infer_high(0x0000_0005), 2);
        assert!(w.check(0x0000_0002_0000_0005).is_ok()); // 11 below T
        assert_eq!(w.infer_high(0x0000_0020), 2);
        assert!(w.check(0x0000_0002_0000_0020).is_ok()); // ahead
        w.mark(0x0000_0002_0000_0020);
        assert_eq!(w.top(), 0x0000_0002_0000_0020);
    }
}
