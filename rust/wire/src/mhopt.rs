//! Mobility options (RFC 6275 §6.2 and the DSMIPv6 additions).
//!
//! ```text
//! Generic format (RFC 6275 §6.2.1); Pad1 is a lone zero octet:
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
//! |  Option Type  | Option Length |  Option Data...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+- - - - - - - - -
//! ```
//!
//! | Type | Option | Data | Alignment | Reference |
//! | --- | --- | --- | --- | --- |
//! | 2 | Binding Refresh Advice | Refresh Interval (2) | 2n | RFC 6275 §6.2.4 |
//! | 3 | Alternate Care-of Address | IPv6 (16) | 8n+6 | RFC 6275 §6.2.5 |
//! | 4 | Nonce Indices | Home (2), Care-of (2) | 2n | RFC 6275 §6.2.6 |
//! | 5 | Binding Authorization Data | Authenticator | 8n+2 | RFC 6275 §6.2.7 |
//! | 8 | Mobile Node Identifier | Subtype (1), Identifier | none | RFC 4283 §3 |
//! | 29 | IPv4 Home Address | Prefix-len(6b) P(1b) Res(9b), IPv4 | 4n | RFC 5555 §3.1.1 |
//! | 30 | IPv4 Address Acknowledgement | Status, Pref-len(6b) Res(2b), IPv4 | 4n | RFC 5555 §3.2.1 |
//! | 31 | NAT Detection | F(1b) Res(15b), Refresh time (4) | 4n | RFC 5555 §3.2.2 |
//! | 32 | IPv4 Care-of Address | Reserved (2), IPv4 | 4n | RFC 5555 §3.1.2 |
//! | 35 | Binding Identifier | BID(2) Status(1) H(1b) Res(7b) [CoA] | 2n / 8n+2 | RFC 5648 §6.1 |
//! | 44 | Flow Summary | FID (2) × n | 2n | RFC 6089 §4.2.2 |
//! | 45 | Flow Identification | FID(2) FID-PRI(2) Res(1) Status(1) sub-options | 2n | RFC 6089 §4.2.1 |
//!
//! Unknown options are kept ([`MobilityOptionRepr::Unknown`]). Reserved bits the representation
//! does not keep must be zero; fixed lengths are enforced; alignment is checked on parse (offsets
//! from the start of the Mobility Header) and produced on emit.

use crate::tlv::{self, TlvIter, PAD1};
use crate::{addr4, addr6, be16, be32, err, put16, put32, ErrorKind, Result};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

enum_with_unknown! {
    /// IANA "Mobility Options" registry (the values this codec names).
    pub enum MobilityOptionType(u8) {
        Pad1 = 0,
        PadN = 1,
        BindingRefreshAdvice = 2,
        AlternateCareOfAddress = 3,
        NonceIndices = 4,
        BindingAuthorizationData = 5,
        MobileNodeIdentifier = 8,
        Ipv4HomeAddress = 29,
        Ipv4AddressAcknowledgement = 30,
        NatDetection = 31,
        Ipv4CareOfAddress = 32,
        BindingIdentifier = 35,
        FlowSummary = 44,
        FlowIdentification = 45,
    }
}

const V4HOA_P: u16 = 0x0200;
const V4HOA_RESERVED: u16 = 0x01ff;
const NATD_F: u16 = 0x8000;
const BID_H: u8 = 0x80;

/// One mobility option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MobilityOptionRepr<'a> {
    Pad1,
    /// PadN covering `len + 2` octets (contents ignored on parse, zeros on emit).
    PadN(u8),
    BindingRefreshAdvice {
        refresh_interval_4s: u16,
    },
    AlternateCareOfAddress(Ipv6Addr),
    NonceIndices {
        home_nonce_index: u16,
        care_of_nonce_index: u16,
    },
    BindingAuthorizationData(&'a [u8]),
    MobileNodeIdentifier {
        subtype: u8,
        identifier: &'a [u8],
    },
    Ipv4HomeAddress {
        prefix_len: u8,
        p: bool,
        address: Ipv4Addr,
    },
    Ipv4AddressAcknowledgement {
        status: u8,
        prefix_len: u8,
        address: Ipv4Addr,
    },
    NatDetection {
        f: bool,
        refresh_time: u32,
    },
    Ipv4CareOfAddress(Ipv4Addr),
    BindingIdentifier {
        bid: u16,
        status: u8,
        h: bool,
        care_of_address: Option<IpAddr>,
    },
    /// The Flow Identifiers, 2 octets each, as on the wire.
    FlowSummary(&'a [u8]),
    FlowIdentification {
        fid: u16,
        fid_pri: u16,
        status: u8,
        sub_options: &'a [u8],
    },
    Unknown {
        option_type: u8,
        data: &'a [u8],
    },
}

impl<'a> MobilityOptionRepr<'a> {
    pub fn option_type(&self) -> MobilityOptionType {
        use MobilityOptionRepr as R;
        use MobilityOptionType as T;
        match self {
            R::Pad1 => T::Pad1,
            R::PadN(_) => T::PadN,
            R::BindingRefreshAdvice { .. } => T::BindingRefreshAdvice,
            R::AlternateCareOfAddress(_) => T::AlternateCareOfAddress,
            R::NonceIndices { .. } => T::NonceIndices,
            R::BindingAuthorizationData(_) => T::BindingAuthorizationData,
            R::MobileNodeIdentifier { .. } => T::MobileNodeIdentifier,
            R::Ipv4HomeAddress { .. } => T::Ipv4HomeAddress,
            R::Ipv4AddressAcknowledgement { .. } => T::Ipv4AddressAcknowledgement,
            R::NatDetection { .. } => T::NatDetection,
            R::Ipv4CareOfAddress(_) => T::Ipv4CareOfAddress,
            R::BindingIdentifier { .. } => T::BindingIdentifier,
            R::FlowSummary(_) => T::FlowSummary,
            R::FlowIdentification { .. } => T::FlowIdentification,
            R::Unknown { option_type, .. } => T::from(*option_type),
        }
    }

    /// Length of the data (the Option Length field); Pad1 has none.
    pub fn data_len(&self) -> usize {
        use MobilityOptionRepr as R;
        match self {
            R::Pad1 => 0,
            R::PadN(n) => usize::from(*n),
            R::BindingRefreshAdvice { .. } => 2,
            R::AlternateCareOfAddress(_) => 16,
            R::NonceIndices { .. } => 4,
            R::BindingAuthorizationData(d) => d.len(),
            R::MobileNodeIdentifier { identifier, .. } => 1 + identifier.len(),
            R::Ipv4HomeAddress { .. }
            | R::Ipv4AddressAcknowledgement { .. }
            | R::NatDetection { .. }
            | R::Ipv4CareOfAddress(_) => 6,
            R::BindingIdentifier {
                care_of_address, ..
            } => match care_of_address {
                None => 4,
                Some(IpAddr::V4(_)) => 8,
                Some(IpAddr::V6(_)) => 20,
            },
            R::FlowSummary(f) => f.len(),
            R::FlowIdentification { sub_options, .. } => 6 + sub_options.len(),
            R::Unknown { data, .. } => data.len(),
        }
    }

    #[inline]
    pub fn buffer_len(&self) -> usize {
        match self {
            MobilityOptionRepr::Pad1 => 1,
            _ => 2 + self.data_len(),
        }
    }

    /// `(x, y)`: the Type octet must sit at `x*n + y` from the start of the Mobility Header.
    #[inline]
    pub fn alignment(&self) -> (usize, usize) {
        use MobilityOptionRepr as R;
        match self {
            R::BindingRefreshAdvice { .. }
            | R::NonceIndices { .. }
            | R::FlowSummary(_)
            | R::FlowIdentification { .. } => (2, 0),
            R::AlternateCareOfAddress(_) => (8, 6),
            R::BindingAuthorizationData(_) => (8, 2),
            R::Ipv4HomeAddress { .. }
            | R::Ipv4AddressAcknowledgement { .. }
            | R::NatDetection { .. }
            | R::Ipv4CareOfAddress(_) => (4, 0),
            R::BindingIdentifier {
                care_of_address: None,
                ..
            } => (2, 0),
            R::BindingIdentifier { .. } => (8, 2),
            _ => (1, 0),
        }
    }

    /// `(x, y, octets)`: [`alignment`](Self::alignment) and [`buffer_len`](Self::buffer_len)
    /// in one dispatch, for the layout loops (padding options: `(1, 0, _)`, no alignment).
    #[inline]
    pub fn layout(&self) -> (usize, usize, usize) {
        use MobilityOptionRepr as R;
        match self {
            R::Pad1 => (1, 0, 1),
            R::PadN(n) => (1, 0, 2 + usize::from(*n)),
            R::BindingRefreshAdvice { .. } => (2, 0, 4),
            R::AlternateCareOfAddress(_) => (8, 6, 18),
            R::NonceIndices { .. } => (2, 0, 6),
            R::BindingAuthorizationData(d) => (8, 2, 2 + d.len()),
            R::MobileNodeIdentifier { identifier, .. } => (1, 0, 3 + identifier.len()),
            R::Ipv4HomeAddress { .. }
            | R::Ipv4AddressAcknowledgement { .. }
            | R::NatDetection { .. }
            | R::Ipv4CareOfAddress(_) => (4, 0, 8),
            R::BindingIdentifier {
                care_of_address: None,
                ..
            } => (2, 0, 6),
            R::BindingIdentifier {
                care_of_address: Some(IpAddr::V4(_)),
                ..
            } => (8, 2, 10),
            R::BindingIdentifier {
                care_of_address: Some(IpAddr::V6(_)),
                ..
            } => (8, 2, 22),
            R::FlowSummary(f) => (2, 0, 2 + f.len()),
            R::FlowIdentification { sub_options, .. } => (2, 0, 8 + sub_options.len()),
            R::Unknown { data, .. } => (1, 0, 2 + data.len()),
        }
    }

    #[inline(always)]
    pub fn is_pad(&self) -> bool {
        matches!(self, MobilityOptionRepr::Pad1 | MobilityOptionRepr::PadN(_))
    }

    /// Decode one raw option found at `offset` (from the MH start); checks lengths, reserved
    /// bits and alignment.
    #[inline(always)]
    fn from_raw(offset: usize, kind: u8, d: &'a [u8]) -> Result<Self> {
        use MobilityOptionRepr as R;
        use MobilityOptionType as T;
        let len_at = offset + 1;
        let fixed = |n: usize| {
            if d.len() == n {
                Ok(())
            } else {
                err(ErrorKind::BadLength, len_at)
            }
        };
        let opt = match T::from(kind) {
            T::Pad1 => R::Pad1,
            T::PadN => R::PadN(d.len() as u8),
            T::BindingRefreshAdvice => {
                fixed(2)?;
                R::BindingRefreshAdvice {
                    refresh_interval_4s: be16(d, 0),
                }
            }
            T::AlternateCareOfAddress => {
                fixed(16)?;
                R::AlternateCareOfAddress(addr6(d, 0))
            }
            T::NonceIndices => {
                fixed(4)?;
                R::NonceIndices {
                    home_nonce_index: be16(d, 0),
                    care_of_nonce_index: be16(d, 2),
                }
            }
            T::BindingAuthorizationData => R::BindingAuthorizationData(d),
            T::MobileNodeIdentifier => {
                if d.len() < 2 {
                    return err(ErrorKind::BadLength, len_at);
                }
                R::MobileNodeIdentifier {
                    subtype: d[0],
                    identifier: &d[1..],
                }
            }
            T::Ipv4HomeAddress => {
                fixed(6)?;
                let w = be16(d, 0);
                if w & V4HOA_RESERVED != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 2);
                }
                R::Ipv4HomeAddress {
                    prefix_len: (w >> 10) as u8,
                    p: w & V4HOA_P != 0,
                    address: addr4(d, 2),
                }
            }
            T::Ipv4AddressAcknowledgement => {
                fixed(6)?;
                if d[1] & 0x03 != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 3);
                }
                R::Ipv4AddressAcknowledgement {
                    status: d[0],
                    prefix_len: d[1] >> 2,
                    address: addr4(d, 2),
                }
            }
            T::NatDetection => {
                fixed(6)?;
                let w = be16(d, 0);
                if w & !NATD_F != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 2);
                }
                R::NatDetection {
                    f: w & NATD_F != 0,
                    refresh_time: be32(d, 2),
                }
            }
            T::Ipv4CareOfAddress => {
                fixed(6)?;
                if be16(d, 0) != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 2);
                }
                R::Ipv4CareOfAddress(addr4(d, 2))
            }
            T::BindingIdentifier => {
                let care_of_address = match d.len() {
                    4 => None,
                    8 => Some(IpAddr::V4(addr4(d, 4))),
                    20 => Some(IpAddr::V6(addr6(d, 4))),
                    _ => return err(ErrorKind::BadLength, len_at),
                };
                if d[3] & !BID_H != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 5);
                }
                R::BindingIdentifier {
                    bid: be16(d, 0),
                    status: d[2],
                    h: d[3] & BID_H != 0,
                    care_of_address,
                }
            }
            T::FlowSummary => {
                if d.is_empty() || !d.len().is_multiple_of(2) {
                    return err(ErrorKind::BadLength, len_at);
                }
                R::FlowSummary(d)
            }
            T::FlowIdentification => {
                if d.len() < 6 {
                    return err(ErrorKind::BadLength, len_at);
                }
                if d[4] != 0 {
                    return err(ErrorKind::NonZeroReserved, offset + 6);
                }
                R::FlowIdentification {
                    fid: be16(d, 0),
                    fid_pri: be16(d, 2),
                    status: d[5],
                    sub_options: &d[6..],
                }
            }
            T::Unknown(k) => R::Unknown {
                option_type: k,
                data: d,
            },
        };
        let (x, y) = opt.alignment();
        tlv::check_align(offset, x, y)?;
        Ok(opt)
    }

    /// Write the option into `b` (exactly `buffer_len()` octets).
    ///
    /// # Panics
    /// If `b` is shorter than `buffer_len()` or the data exceeds 255 octets.
    pub fn emit(&self, b: &mut [u8]) {
        use MobilityOptionRepr as R;
        if let R::Pad1 = self {
            b[0] = PAD1;
            return;
        }
        b[0] = self.option_type().into();
        b[1] = u8::try_from(self.data_len()).unwrap_or(u8::MAX);
        let d = &mut b[2..2 + self.data_len()];
        match *self {
            R::Pad1 => {}
            R::PadN(_) => d.fill(0),
            R::BindingRefreshAdvice {
                refresh_interval_4s,
            } => put16(d, 0, refresh_interval_4s),
            R::AlternateCareOfAddress(a) => d.copy_from_slice(&a.octets()),
            R::NonceIndices {
                home_nonce_index,
                care_of_nonce_index,
            } => {
                put16(d, 0, home_nonce_index);
                put16(d, 2, care_of_nonce_index);
            }
            R::BindingAuthorizationData(a) => d.copy_from_slice(a),
            R::MobileNodeIdentifier {
                subtype,
                identifier,
            } => {
                d[0] = subtype;
                d[1..].copy_from_slice(identifier);
            }
            R::Ipv4HomeAddress {
                prefix_len,
                p,
                address,
            } => {
                let w = (u16::from(prefix_len & 0x3f) << 10) | if p { V4HOA_P } else { 0 };
                put16(d, 0, w);
                d[2..6].copy_from_slice(&address.octets());
            }
            R::Ipv4AddressAcknowledgement {
                status,
                prefix_len,
                address,
            } => {
                d[0] = status;
                d[1] = (prefix_len & 0x3f) << 2;
                d[2..6].copy_from_slice(&address.octets());
            }
            R::NatDetection { f, refresh_time } => {
                put16(d, 0, if f { NATD_F } else { 0 });
                put32(d, 2, refresh_time);
            }
            R::Ipv4CareOfAddress(a) => {
                put16(d, 0, 0);
                d[2..6].copy_from_slice(&a.octets());
            }
            R::BindingIdentifier {
                bid,
                status,
                h,
                care_of_address,
            } => {
                put16(d, 0, bid);
                d[2] = status;
                d[3] = if h { BID_H } else { 0 };
                match care_of_address {
                    None => {}
                    Some(IpAddr::V4(a)) => d[4..8].copy_from_slice(&a.octets()),
                    Some(IpAddr::V6(a)) => d[4..20].copy_from_slice(&a.octets()),
                }
            }
            R::FlowSummary(f) => d.copy_from_slice(f),
            R::FlowIdentification {
                fid,
                fid_pri,
                status,
                sub_options,
            } => {
                put16(d, 0, fid);
                put16(d, 2, fid_pri);
                d[4] = 0;
                d[5] = status;
                d[6..].copy_from_slice(sub_options);
            }
            R::Unknown { data, .. } => d.copy_from_slice(data),
        }
    }
}

/// Iterator over an option area; yields every option, padding included, and stops at the first
/// error. `base` is the offset of the area from the start of the Mobility Header.
#[derive(Debug, Clone)]
pub struct MobilityOptionsIter<'a> {
    inner: TlvIter<'a>,
}

impl<'a> MobilityOptionsIter<'a> {
    pub fn new(area: &'a [u8], base: usize) -> Self {
        MobilityOptionsIter {
            inner: TlvIter::new(area, base),
        }
    }
}

impl<'a> Iterator for MobilityOptionsIter<'a> {
    type Item = Result<MobilityOptionRepr<'a>>;
    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.inner.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let r = MobilityOptionRepr::from_raw(raw.offset, raw.kind, raw.data);
        if r.is_err() {
            // Stop after the first error.
            self.inner = TlvIter::new(&[], 0);
        }
        Some(r)
    }
}

/// The options of a message: as found on the wire (parse; padding included) or a list to lay
/// out with alignment padding (build).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MobilityOptions<'a> {
    /// The option area octets and its offset from the start of the Mobility Header.
    Raw {
        area: &'a [u8],
        base: usize,
    },
    List(&'a [MobilityOptionRepr<'a>]),
}

impl<'a> MobilityOptions<'a> {
    pub const EMPTY: MobilityOptions<'static> = MobilityOptions::List(&[]);

    /// Validate a raw area starting at `base` (from the MH start).
    #[inline(always)]
    pub fn parse(area: &'a [u8], base: usize) -> Result<Self> {
        for o in MobilityOptionsIter::new(area, base) {
            o?;
        }
        Ok(MobilityOptions::Raw { area, base })
    }

    /// All options, padding included.
    pub fn iter(&self) -> impl Iterator<Item = MobilityOptionRepr<'a>> + 'a {
        let (raw, base, list): (&'a [u8], usize, &'a [MobilityOptionRepr<'a>]) = match *self {
            MobilityOptions::Raw { area, base } => (area, base, &[]),
            MobilityOptions::List(l) => (&[], 0, l),
        };
        MobilityOptionsIter::new(raw, base)
            .map_while(|r| r.ok())
            .chain(list.iter().copied())
    }

    /// End offset once laid out after a fixed part ending at `start` (before the final padding
    /// to a multiple of 8).
    #[inline]
    pub fn end_offset(&self, start: usize) -> usize {
        match self {
            MobilityOptions::Raw { area, .. } => start + area.len(),
            MobilityOptions::List(l) => {
                let mut off = start;
                for o in l.iter() {
                    // Padding options have no alignment (pad_for gives 0).
                    let (x, y, n) = o.layout();
                    off += tlv::pad_for(off, x, y) + n;
                }
                off
            }
        }
    }

    /// Lay the options out at `start` within `mh` (the whole Mobility Header buffer) and pad
    /// up to `mh.len()`.
    ///
    /// # Panics
    /// If `mh` is too short for the options.
    pub fn emit(&self, mh: &mut [u8], start: usize) {
        let total = mh.len();
        match self {
            MobilityOptions::Raw { area, .. } => {
                mh[start..start + area.len()].copy_from_slice(area);
                tlv::write_pad(&mut mh[start + area.len()..total]);
            }
            MobilityOptions::List(l) => {
                let mut off = start;
                for o in l.iter() {
                    let (x, y, n) = o.layout();
                    let p = tlv::pad_for(off, x, y);
                    if p != 0 {
                        tlv::write_pad(&mut mh[off..off + p]);
                        off += p;
                    }
                    o.emit(&mut mh[off..off + n]);
                    off += n;
                }
                tlv::write_pad(&mut mh[off..total]);
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn layout_is_alignment_and_length() {
        use MobilityOptionRepr as R;
        let v6 = core::net::Ipv6Addr::LOCALHOST;
        let v4 = Ipv4Addr::new(192, 0, 2, 1);
        let all = [
            R::Pad1,
            R::PadN(0),
            R::PadN(5),
            R::BindingRefreshAdvice {
                refresh_interval_4s: 1,
            },
            R::AlternateCareOfAddress(v6),
            R::NonceIndices {
                home_nonce_index: 1,
                care_of_nonce_index: 2,
            },
            R::BindingAuthorizationData(&[1; 12]),
            R::MobileNodeIdentifier {
                subtype: 1,
                identifier: b"ue@example",
            },
            R::Ipv4HomeAddress {
                prefix_len: 32,
                p: false,
                address: v4,
            },
            R::Ipv4AddressAcknowledgement {
                status: 0,
                prefix_len: 32,
                address: v4,
            },
            R::NatDetection {
                f: true,
                refresh_time: 10,
            },
            R::Ipv4CareOfAddress(v4),
            R::BindingIdentifier {
                bid: 1,
                status: 0,
                h: false,
                care_of_address: None,
            },
            R::BindingIdentifier {
                bid: 1,
                status: 0,
                h: false,
                care_of_address: Some(IpAddr::V4(v4)),
            },
            R::BindingIdentifier {
                bid: 1,
                status: 0,
                h: true,
                care_of_address: Some(IpAddr::V6(v6)),
            },
            R::FlowSummary(&[0, 1, 0, 2]),
            R::FlowIdentification {
                fid: 1,
                fid_pri: 2,
                status: 0,
                sub_options: &[9, 9, 9],
            },
            R::Unknown {
                option_type: 200,
                data: &[1, 2, 3],
            },
        ];
        for o in all {
            let (x, y) = if o.is_pad() { (1, 0) } else { o.alignment() };
            assert_eq!(o.layout(), (x, y, o.buffer_len()), "{o:?}");
        }
    }

    #[test]
    fn ipv4_hoa_encoding() {
        // wire-mobility.md §5.2: prefix-len 32, P=0 -> octets 2-3 = 80 00.
        let o = MobilityOptionRepr::Ipv4HomeAddress {
            prefix_len: 32,
            p: false,
            address: Ipv4Addr::new(192, 0, 2, 10),
        };
        let mut b = [0u8; 8];
        o.emit(&mut b);
        assert_eq!(b, [29, 6, 0x80, 0x00, 192, 0, 2, 10]);
        assert_eq!(MobilityOptionRepr::from_raw(12, b[0], &b[2..]).unwrap(), o);
        // Misaligned (not 4n): rejected.
        assert_eq!(
            MobilityOptionRepr::from_raw(14, b[0], &b[2..]).unwrap_err(),
            crate::Error::new(ErrorKind::BadAlignment, 14)
        );
        // Reserved bits set: rejected.
        b[3] = 1;
        assert_eq!(
            MobilityOptionRepr::from_raw(12, b[0], &b[2..])
                .unwrap_err()
                .kind,
            ErrorKind::NonZeroReserved
        );
    }

    #[test]
    fn ipv4_ack_and_natd_encoding() {
        let o = MobilityOptionRepr::Ipv4AddressAcknowledgement {
            status: 0,
            prefix_len: 32,
            address: Ipv4Addr::new(192, 0, 2, 10),
        };
        let mut b = [0u8; 8];
        o.emit(&mut b);
        assert_eq!(b, [30, 6, 0x00, 0x80, 192, 0, 2, 10]);
        let n = MobilityOptionRepr::NatDetection {
            f: true,
            refresh_time: 110,
        };
        n.emit(&mut b);
        assert_eq!(b, [31, 6, 0x80, 0x00, 0, 0, 0, 110]);
    }

    #[test]
    fn unknown_kept_and_fixed_lengths() {
        let area = [200u8, 2, 0xab, 0xcd];
        let v: Vec<_> = MobilityOptionsIter::new(&area, 12)
            .collect::<Result<_>>()
            .unwrap();
        assert_eq!(
            v,
            [MobilityOptionRepr::Unknown {
                option_type: 200,
                data: &[0xab, 0xcd]
            }]
        );
        let bad = [3u8, 2, 0, 0];
        let e = MobilityOptionsIter::new(&bad, 14)
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadLength, 15));
    }

    #[test]
    fn bid_lengths() {
        for coa in [
            None,
            Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ] {
            let o = MobilityOptionRepr::BindingIdentifier {
                bid: 7,
                status: 0,
                h: true,
                care_of_address: coa,
            };
            let mut b = vec![0u8; o.buffer_len()];
            o.emit(&mut b);
            let (x, y) = o.alignment();
            let at = 16 + tlv::pad_for(16, x, y);
            assert_eq!(MobilityOptionRepr::from_raw(at, b[0], &b[2..]).unwrap(), o);
        }
    }
}
