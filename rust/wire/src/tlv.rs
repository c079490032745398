//! The type-length-value walk and the padding recipe shared by IPv6 options (RFC 8200 §4.2)
//! and mobility options (RFC 6275 §6.2.1): Pad1 (type 0) is a lone octet; every other option is
//! `Type(1) Length(1) Data(Length)`; PadN (type 1) carries `Length` zero octets.

use crate::{err, ErrorKind, Result};

pub const PAD1: u8 = 0;
pub const PADN: u8 = 1;

/// One raw option: its type, its data, and the offset of its Type octet within the area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTlv<'a> {
    pub offset: usize,
    pub kind: u8,
    pub data: &'a [u8],
}

/// Iterate over an option area. Stops at the first error (an option overrunning the area),
/// which is reported with its offset relative to the area start plus `base`.
#[derive(Debug, Clone)]
pub struct TlvIter<'a> {
    area: &'a [u8],
    /// Next octet to read; `usize::MAX` once an error was reported.
    pos: usize,
    base: usize,
}

impl<'a> TlvIter<'a> {
    pub fn new(area: &'a [u8], base: usize) -> Self {
        TlvIter { area, pos: 0, base }
    }
}

impl<'a> Iterator for TlvIter<'a> {
    type Item = Result<RawTlv<'a>>;
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        // After an error `pos` is parked at usize::MAX, so `get` ends the walk.
        let at = self.pos;
        let (&kind, after) = self.area.get(at..)?.split_first()?;
        let offset = self.base + at;
        if kind == PAD1 {
            self.pos = at + 1;
            return Some(Ok(RawTlv {
                offset,
                kind,
                data: &[],
            }));
        }
        let Some((&len, data)) = after.split_first() else {
            self.pos = usize::MAX;
            return Some(err(ErrorKind::BadLength, offset));
        };
        let Some(data) = data.get(..usize::from(len)) else {
            self.pos = usize::MAX;
            return Some(err(ErrorKind::BadLength, offset + 1));
        };
        self.pos = at + 2 + usize::from(len);
        Some(Ok(RawTlv { offset, kind, data }))
    }
}

/// Padding octets needed before an option at `offset` whose Type octet must sit at
/// `x*n + y` (x a power of two, y < x; x = 1 means no alignment). A mask, not a division:
/// every alignment in RFC 6275 §6.2 / RFC 8200 §4.2 is a power of two.
#[inline(always)]
pub const fn pad_for(offset: usize, x: usize, y: usize) -> usize {
    debug_assert!(x.is_power_of_two() && y < x);
    y.wrapping_sub(offset) & (x - 1)
}

/// Fill `buf` with padding: Pad1 for one octet, else one PadN of `buf.len()` octets.
///
/// # Panics
/// If `buf.len() > 257` (callers pad at most 7 octets).
pub fn write_pad(buf: &mut [u8]) {
    match buf.len() {
        0 => {}
        1 => buf[0] = PAD1,
        n => {
            buf[0] = PADN;
            buf[1] = (n - 2) as u8;
            buf[2..].fill(0);
        }
    }
}

/// Check that an option's Type octet at `offset` satisfies `x*n + y`.
#[inline(always)]
pub fn check_align(offset: usize, x: usize, y: usize) -> Result<()> {
    if pad_for(offset, x, y) != 0 {
        return err(ErrorKind::BadAlignment, offset);
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn padding_recipe() {
        // HAO at 8n+6 right after the 2-octet Destination Options header: 4 octets of PadN.
        assert_eq!(pad_for(2, 8, 6), 4);
        assert_eq!(pad_for(6, 8, 6), 0);
        assert_eq!(pad_for(7, 8, 6), 7);
        assert_eq!(pad_for(12, 4, 0), 0);
        assert_eq!(pad_for(13, 2, 0), 1);
        assert_eq!(pad_for(5, 1, 0), 0);
        let mut b = [9u8; 4];
        write_pad(&mut b);
        assert_eq!(b, [1, 2, 0, 0]);
        let mut b = [9u8; 1];
        write_pad(&mut b);
        assert_eq!(b, [0]);
    }

    #[test]
    fn walk_and_overrun() {
        let area = [0u8, 1, 1, 0, 7, 2, 0xaa, 0xbb];
        let v: Vec<_> = TlvIter::new(&area, 10).collect::<Result<_>>().unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(
            (v[2].offset, v[2].kind, v[2].data),
            (14, 7, &[0xaa, 0xbb][..])
        );
        let bad = [7u8, 3, 1];
        let e = TlvIter::new(&bad, 0).last().unwrap().unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadLength, 1));
    }
}
