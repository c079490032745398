//! The Destination Options header (RFC 8200 §4.6) and the Home Address option
//! (RFC 6275 §6.3).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |  Hdr Ext Len  |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! .                            Options                            .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Home Address option (alignment 8n+6):
//!                                 +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!                                 |  Option Type  | Option Length |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! +                    Home Address (128 bits)                    +
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Option Type 201 (0xC9), Option Length 16. At most one per packet (RFC 6275 §6.3).

use crate::field::Field;
use crate::tlv::{self, TlvIter, PAD1, PADN};
use crate::{addr6, err, ErrorKind, IpProtocol, Result};
use core::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    pub const OPTIONS_START: usize = 2;
    pub const HAO_ADDR: Field = 2..18; // within the option
}

/// Option Type of the Home Address option.
pub const HOME_ADDRESS: u8 = 0xc9;
const HAO_LEN: usize = 16;

/// A view of a Destination Options header (the buffer may continue with the payload).
#[derive(Debug, Clone)]
pub struct DestOptsHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DestOptsHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        DestOptsHeader { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<()> {
        let n = self.buffer.as_ref().len();
        if n < 2 {
            return err(ErrorKind::Truncated, n);
        }
        if n < self.header_len() {
            return err(ErrorKind::Truncated, n);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }
    pub fn hdr_ext_len_8oct(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    /// Header length in octets: `(Hdr Ext Len + 1) * 8`.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.hdr_ext_len_8oct()) + 1) * 8
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS_START..self.header_len()]
    }
}

/// One IPv6 option (in a Destination Options header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6OptionRepr<'a> {
    Pad1,
    /// PadN covering `len + 2` octets.
    PadN(u8),
    HomeAddress(Ipv6Addr),
    /// Any other option, kept with its data.
    Unknown {
        option_type: u8,
        data: &'a [u8],
    },
}

impl Ipv6OptionRepr<'_> {
    pub const fn buffer_len(&self) -> usize {
        match self {
            Ipv6OptionRepr::Pad1 => 1,
            Ipv6OptionRepr::PadN(n) => 2 + *n as usize,
            Ipv6OptionRepr::HomeAddress(_) => 2 + HAO_LEN,
            Ipv6OptionRepr::Unknown { data, .. } => 2 + data.len(),
        }
    }
    /// `(x, y)` of the `xn+y` alignment of the Type octet.
    pub const fn alignment(&self) -> (usize, usize) {
        match self {
            Ipv6OptionRepr::HomeAddress(_) => (8, 6),
            _ => (1, 0),
        }
    }
    /// `(x, y, octets)`: [`alignment`](Self::alignment) and [`buffer_len`](Self::buffer_len)
    /// in one dispatch, for the layout loops (padding options: `(1, 0, _)`, no alignment).
    #[inline]
    const fn layout(&self) -> (usize, usize, usize) {
        match self {
            Ipv6OptionRepr::Pad1 => (1, 0, 1),
            Ipv6OptionRepr::PadN(n) => (1, 0, 2 + *n as usize),
            Ipv6OptionRepr::HomeAddress(_) => (8, 6, 2 + HAO_LEN),
            Ipv6OptionRepr::Unknown { data, .. } => (1, 0, 2 + data.len()),
        }
    }
    fn emit(&self, b: &mut [u8]) {
        match *self {
            Ipv6OptionRepr::Pad1 => b[0] = PAD1,
            Ipv6OptionRepr::PadN(n) => {
                b[0] = PADN;
                b[1] = n;
                b[2..2 + usize::from(n)].fill(0);
            }
            Ipv6OptionRepr::HomeAddress(a) => {
                b[0] = HOME_ADDRESS;
                b[1] = HAO_LEN as u8;
                b[field::HAO_ADDR].copy_from_slice(&a.octets());
            }
            Ipv6OptionRepr::Unknown { option_type, data } => {
                b[0] = option_type;
                b[1] = data.len() as u8;
                b[2..2 + data.len()].copy_from_slice(data);
            }
        }
    }
}

/// Iterator over a validated option area; yields `(offset in header, option)`.
#[derive(Debug, Clone)]
pub struct Ipv6OptionsIter<'a> {
    inner: TlvIter<'a>,
}

impl<'a> Iterator for Ipv6OptionsIter<'a> {
    type Item = Result<(usize, Ipv6OptionRepr<'a>)>;
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.inner.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let opt = match raw.kind {
            PAD1 => Ipv6OptionRepr::Pad1,
            PADN => Ipv6OptionRepr::PadN(raw.data.len() as u8),
            HOME_ADDRESS => {
                if raw.data.len() != HAO_LEN {
                    return Some(err(ErrorKind::BadLength, raw.offset + 1));
                }
                if let Err(e) = tlv::check_align(raw.offset, 8, 6) {
                    return Some(Err(e));
                }
                Ipv6OptionRepr::HomeAddress(addr6(raw.data, 0))
            }
            k => Ipv6OptionRepr::Unknown {
                option_type: k,
                data: raw.data,
            },
        };
        Some(Ok((raw.offset, opt)))
    }
}

/// The options of a header: either the octets as found on the wire (parse) or a list to lay
/// out with alignment padding (build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Options<'a> {
    Raw(&'a [u8]),
    List(&'a [Ipv6OptionRepr<'a>]),
}

/// The meaning of a Destination Options header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestOptsRepr<'a> {
    pub next_header: IpProtocol,
    pub options: Ipv6Options<'a>,
}

impl<'a> DestOptsRepr<'a> {
    /// Parse and validate every option (lengths, HAO alignment, at most one HAO).
    pub fn parse(h: &DestOptsHeader<&'a [u8]>) -> Result<DestOptsRepr<'a>> {
        Self::parse_with_home_address(h).map(|(r, _)| r)
    }

    /// [`parse`](Self::parse), also returning the Home Address option's address found while
    /// validating (saves a second walk over the options).
    #[inline(always)]
    pub fn parse_with_home_address(
        h: &DestOptsHeader<&'a [u8]>,
    ) -> Result<(DestOptsRepr<'a>, Option<Ipv6Addr>)> {
        h.check_len()?;
        let area: &'a [u8] = &h.buffer[field::OPTIONS_START..h.header_len()];
        let mut hao = None;
        for item in (Ipv6OptionsIter {
            inner: TlvIter::new(area, field::OPTIONS_START),
        }) {
            let (off, opt) = item?;
            if let Ipv6OptionRepr::HomeAddress(a) = opt {
                if hao.is_some() {
                    return err(ErrorKind::BadValue, off);
                }
                hao = Some(a);
            }
        }
        let r = DestOptsRepr {
            next_header: h.next_header(),
            options: Ipv6Options::Raw(area),
        };
        Ok((r, hao))
    }

    /// Iterate over the options (for `List`, offsets are those `emit` produces).
    pub fn options(&self) -> impl Iterator<Item = Ipv6OptionRepr<'a>> + 'a {
        let (raw, list): (&'a [u8], &'a [Ipv6OptionRepr<'a>]) = match self.options {
            Ipv6Options::Raw(r) => (r, &[]),
            Ipv6Options::List(l) => (&[], l),
        };
        Ipv6OptionsIter {
            inner: TlvIter::new(raw, field::OPTIONS_START),
        }
        .map_while(|r| r.ok().map(|(_, o)| o))
        .chain(list.iter().copied())
    }

    /// The Home Address option's address, if present.
    pub fn home_address(&self) -> Option<Ipv6Addr> {
        let hao = |o: Ipv6OptionRepr| match o {
            Ipv6OptionRepr::HomeAddress(a) => Some(a),
            _ => None,
        };
        match self.options {
            // A list (build): no need to go through the wire walk.
            Ipv6Options::List(l) => l.iter().copied().find_map(hao),
            Ipv6Options::Raw(_) => self.options().find_map(hao),
        }
    }

    /// Octets of the options area once laid out (without the final padding).
    #[inline]
    fn layout_len(list: &[Ipv6OptionRepr]) -> usize {
        let mut off = field::OPTIONS_START;
        for o in list {
            // Padding options have no alignment (pad_for gives 0).
            let (x, y, n) = o.layout();
            off += tlv::pad_for(off, x, y) + n;
        }
        off
    }

    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self.options {
            Ipv6Options::Raw(r) => field::OPTIONS_START + r.len(),
            Ipv6Options::List(l) => Self::layout_len(l).div_ceil(8) * 8,
        }
    }

    /// Write the header into `buf`, which must be exactly `buffer_len()` octets.
    ///
    /// # Panics
    /// If `buf` is shorter than `buffer_len()`, or the options exceed 2048 octets.
    pub fn emit(&self, buf: &mut [u8]) {
        let total = buf.len();
        debug_assert_eq!(total, self.buffer_len());
        buf[field::NEXT_HEADER] = self.next_header.into();
        buf[field::LENGTH] = (total / 8 - 1) as u8;
        match self.options {
            Ipv6Options::Raw(r) => buf[field::OPTIONS_START..total].copy_from_slice(r),
            Ipv6Options::List(l) => {
                let mut off = field::OPTIONS_START;
                for o in l {
                    let (x, y, n) = o.layout();
                    let p = tlv::pad_for(off, x, y);
                    if p != 0 {
                        tlv::write_pad(&mut buf[off..off + p]);
                        off += p;
                    }
                    o.emit(&mut buf[off..off + n]);
                    off += n;
                }
                tlv::write_pad(&mut buf[off..total]);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn layout_is_alignment_and_length() {
        for o in [
            Ipv6OptionRepr::Pad1,
            Ipv6OptionRepr::PadN(0),
            Ipv6OptionRepr::PadN(4),
            Ipv6OptionRepr::HomeAddress(Ipv6Addr::LOCALHOST),
            Ipv6OptionRepr::Unknown {
                option_type: 0x1e,
                data: &[1, 2, 3],
            },
        ] {
            let is_pad = matches!(o, Ipv6OptionRepr::Pad1 | Ipv6OptionRepr::PadN(_));
            let (x, y) = if is_pad { (1, 0) } else { o.alignment() };
            assert_eq!(o.layout(), (x, y, o.buffer_len()), "{o:?}");
        }
    }

    // test-vectors.md §6 E1: Destination Options with PadN(4) + HAO(2001:db8:1::1000).
    const E1_DSTOPT: [u8; 24] = [
        0x87, 0x02, 0x01, 0x02, 0x00, 0x00, 0xc9, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0,
        0, 0, 0, 0, 0, 0x10, 0x00,
    ];

    #[test]
    fn parse_emit_e1() {
        let h = DestOptsHeader::new_checked(&E1_DSTOPT[..]).unwrap();
        let r = DestOptsRepr::parse(&h).unwrap();
        assert_eq!(r.next_header, IpProtocol::Mobility);
        let hoa: Ipv6Addr = "2001:db8:1::1000".parse().unwrap();
        assert_eq!(r.home_address(), Some(hoa));
        let mut out = [0u8; 24];
        r.emit(&mut out);
        assert_eq!(out, E1_DSTOPT);
        // Built from a list: the builder inserts the PadN(4) itself.
        let list = [Ipv6OptionRepr::HomeAddress(hoa)];
        let b = DestOptsRepr {
            next_header: IpProtocol::Mobility,
            options: Ipv6Options::List(&list),
        };
        assert_eq!(b.buffer_len(), 24);
        let mut out2 = [0xffu8; 24];
        b.emit(&mut out2);
        assert_eq!(out2, E1_DSTOPT);
    }

    #[test]
    fn misaligned_hao_and_truncation() {
        let mut bad = E1_DSTOPT;
        // Shift the HAO two octets earlier: PadN(0) then HAO at offset 4 (not 8n+6).
        bad[2..4].copy_from_slice(&[1, 0]);
        bad[4..22].copy_from_slice(&E1_DSTOPT[6..24]);
        bad[22..24].copy_from_slice(&[1, 0]);
        let e = DestOptsRepr::parse(&DestOptsHeader::new_unchecked(&bad[..])).unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadAlignment, 4));
        for n in 0..24 {
            let e =
                DestOptsRepr::parse(&DestOptsHeader::new_unchecked(&E1_DSTOPT[..n])).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Truncated);
        }
    }
}
