//! The Mobility Header (RFC 6275 §6.1) and its messages: Binding Refresh Request (0),
//! Binding Update (5), Binding Acknowledgement (6), Binding Error (7), Home Agent Switch
//! (12, RFC 5142 §4) and Binding Revocation Indication / Acknowledgement (16, RFC 5846 §5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Payload Proto |  Header Len   |   MH Type     |   Reserved    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               |
//! .                       Message Data                            .
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! Binding Update (fixed part at offset 6):
//! |          Sequence #           |A|H|L|K|M|R|P|F|T|O| Reserved  |
//! |            Lifetime           |  Mobility options ...
//! Binding Acknowledgement:
//! |    Status     |K|R|P|T| Res   |          Sequence #           |
//! |            Lifetime           |  Mobility options ...
//! Binding Error:  | Status | Reserved | Home Address (16) | options
//! Home Agent Switch: | # of Addresses | Reserved | Home Agent Addresses (16 each) | options
//! Binding Revocation (B.R. Type 1 = indication, 2 = acknowledgement):
//! | B.R. Type | Trigger or Status |  Sequence #  |P|V|G| Reserved (13) | options
//! ```
//!
//! Header Len counts 8-octet units after the first 8. The checksum covers an IPv6
//! pseudo-header (RFC 8200 §8.1, next header 135) whose addresses the caller passes: the home
//! address from a Home Address option as source, from a Type 2 Routing header as destination
//! (RFC 6275 §6.1.1). Payload Proto must be 59; reserved fields not kept in the representation
//! must be zero; an MH Type this codec does not decode is kept as [`MhMessage::Unknown`].

use crate::checksum;
use crate::field::Field;
use crate::mhopt::MobilityOptions;
use crate::{addr6, be16, err, put16, ErrorKind, IpProtocol, Result};
use core::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const PAYLOAD_PROTO: usize = 0;
    pub const HEADER_LEN: usize = 1;
    pub const MH_TYPE: usize = 2;
    pub const RESERVED: usize = 3;
    pub const CHECKSUM: Field = 4..6;
    pub const DATA: usize = 6;

    pub const BRR_RESERVED: Field = 6..8;
    pub const BRR_OPTIONS: usize = 8;

    pub const BU_SEQUENCE: Field = 6..8;
    pub const BU_FLAGS: Field = 8..10;
    pub const BU_LIFETIME_4S: Field = 10..12;
    pub const BU_OPTIONS: usize = 12;

    pub const BA_STATUS: usize = 6;
    pub const BA_FLAGS: usize = 7;
    pub const BA_SEQUENCE: Field = 8..10;
    pub const BA_LIFETIME_4S: Field = 10..12;
    pub const BA_OPTIONS: usize = 12;

    pub const BE_STATUS: usize = 6;
    pub const BE_RESERVED: usize = 7;
    pub const BE_HOME_ADDRESS: Field = 8..24;
    pub const BE_OPTIONS: usize = 24;

    pub const HAS_NUM_ADDRESSES: usize = 6;
    pub const HAS_RESERVED: usize = 7;
    pub const HAS_ADDRESSES: usize = 8;
    pub const fn has_options(n: usize) -> usize {
        HAS_ADDRESSES + 16 * n
    }

    pub const BR_TYPE: usize = 6;
    pub const BR_TRIGGER_OR_STATUS: usize = 7;
    pub const BR_SEQUENCE: Field = 8..10;
    pub const BR_FLAGS: Field = 10..12;
    pub const BR_OPTIONS: usize = 12;
}

/// Minimum Mobility Header (Header Len 0).
pub const MIN_LEN: usize = 8;

enum_with_unknown! {
    /// IANA "Mobility Header Types" (the values this codec names).
    pub enum MhType(u8) {
        BindingRefreshRequest = 0,
        HomeTestInit = 1,
        CareOfTestInit = 2,
        HomeTest = 3,
        CareOfTest = 4,
        BindingUpdate = 5,
        BindingAcknowledgement = 6,
        BindingError = 7,
        HomeAgentSwitch = 12,
        BindingRevocation = 16,
    }
}

/// Binding Update flag bits (16-bit word at offset 8; wire-mobility.md §4.2).
pub mod bu_flags {
    pub const A: u16 = 0x8000;
    pub const H: u16 = 0x4000;
    pub const L: u16 = 0x2000;
    pub const K: u16 = 0x1000;
    pub const M: u16 = 0x0800;
    pub const R: u16 = 0x0400;
    pub const P: u16 = 0x0200;
    pub const F: u16 = 0x0100;
    pub const T: u16 = 0x0080;
    pub const O: u16 = 0x0040;
    /// Bits without a flag name here (S, D and the reserved ones).
    pub const RESERVED: u16 = 0x003f;
}

/// Binding Acknowledgement flag bits (octet 7).
pub mod ba_flags {
    pub const K: u8 = 0x80;
    pub const R: u8 = 0x40;
    pub const P: u8 = 0x20;
    pub const T: u8 = 0x10;
    pub const RESERVED: u8 = 0x0f;
}

/// Binding Revocation flag bits (16-bit word at offset 10, RFC 5846 §5.1/§5.2).
pub mod br_flags {
    pub const P: u16 = 0x8000;
    pub const V: u16 = 0x4000;
    pub const G: u16 = 0x2000;
    pub const RESERVED: u16 = 0x1fff;
}

/// B.R. Type values (RFC 5846 §5).
pub const BR_TYPE_INDICATION: u8 = 1;
pub const BR_TYPE_ACKNOWLEDGEMENT: u8 = 2;

/// A view of a Mobility Header.
#[derive(Debug, Clone)]
pub struct MobilityHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> MobilityHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        MobilityHeader { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// The buffer holds at least `(Header Len + 1) * 8` octets.
    pub fn check_len(&self) -> Result<()> {
        let n = self.buffer.as_ref().len();
        if n < MIN_LEN {
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
    pub fn payload_proto(&self) -> u8 {
        self.buffer.as_ref()[field::PAYLOAD_PROTO]
    }
    pub fn header_len_8oct(&self) -> u8 {
        self.buffer.as_ref()[field::HEADER_LEN]
    }
    /// Length of the whole Mobility Header in octets.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.header_len_8oct()) + 1) * 8
    }
    pub fn mh_type(&self) -> MhType {
        MhType::from(self.buffer.as_ref()[field::MH_TYPE])
    }
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::RESERVED]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    /// The whole header (`header_len()` octets).
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    /// Verify the checksum with the pseudo-header addresses given (HoA substitutions done by
    /// the caller). Always true under `cfg(fuzzing)`.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let h = self.header();
        checksum::verify(
            checksum::pseudo_v6(src, dst, IpProtocol::Mobility.into(), h.len() as u32),
            h,
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> MobilityHeader<T> {
    /// Compute and store the checksum over `header_len()` octets.
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        let n = self.header_len();
        let b = &mut self.buffer.as_mut()[..n];
        put16(b, field::CHECKSUM.start, 0);
        let c = checksum::checksum(
            checksum::pseudo_v6(src, dst, IpProtocol::Mobility.into(), n as u32),
            b,
        );
        put16(b, field::CHECKSUM.start, c);
    }
}

/// The message-specific fixed part of a Mobility Header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MhMessage<'a> {
    BindingRefreshRequest,
    BindingUpdate {
        sequence: u16,
        /// The whole flags word (flags of [`bu_flags`] and reserved bits), kept raw.
        flags: u16,
        lifetime_4s: u16,
    },
    BindingAcknowledgement {
        status: u8,
        /// The flags octet ([`ba_flags`] and reserved bits), kept raw.
        flags: u8,
        sequence: u16,
        lifetime_4s: u16,
    },
    BindingError {
        status: u8,
        home_address: Ipv6Addr,
    },
    /// `addresses` holds 16 octets per home agent address.
    HomeAgentSwitch {
        addresses: &'a [u8],
    },
    BindingRevocationIndication {
        revocation_trigger: u8,
        sequence: u16,
        /// P, V, G ([`br_flags`]); reserved bits are zero.
        flags: u16,
    },
    BindingRevocationAcknowledgement {
        status: u8,
        sequence: u16,
        flags: u16,
    },
    /// Any other MH Type (or B.R. Type); `data` is everything after the checksum.
    Unknown {
        mh_type: u8,
        data: &'a [u8],
    },
}

impl MhMessage<'_> {
    pub fn mh_type(&self) -> MhType {
        match self {
            MhMessage::BindingRefreshRequest => MhType::BindingRefreshRequest,
            MhMessage::BindingUpdate { .. } => MhType::BindingUpdate,
            MhMessage::BindingAcknowledgement { .. } => MhType::BindingAcknowledgement,
            MhMessage::BindingError { .. } => MhType::BindingError,
            MhMessage::HomeAgentSwitch { .. } => MhType::HomeAgentSwitch,
            MhMessage::BindingRevocationIndication { .. }
            | MhMessage::BindingRevocationAcknowledgement { .. } => MhType::BindingRevocation,
            MhMessage::Unknown { mh_type, .. } => MhType::from(*mh_type),
        }
    }

    /// Offset (from the MH start) where the options begin.
    pub fn options_offset(&self) -> usize {
        match self {
            MhMessage::BindingRefreshRequest => field::BRR_OPTIONS,
            MhMessage::BindingUpdate { .. } => field::BU_OPTIONS,
            MhMessage::BindingAcknowledgement { .. } => field::BA_OPTIONS,
            MhMessage::BindingError { .. } => field::BE_OPTIONS,
            MhMessage::HomeAgentSwitch { addresses } => field::has_options(addresses.len() / 16),
            MhMessage::BindingRevocationIndication { .. }
            | MhMessage::BindingRevocationAcknowledgement { .. } => field::BR_OPTIONS,
            MhMessage::Unknown { data, .. } => field::DATA + data.len(),
        }
    }

    /// Home agent addresses of a Home Agent Switch message (empty for other messages).
    pub fn home_agent_addresses(&self) -> impl Iterator<Item = Ipv6Addr> + '_ {
        let a: &[u8] = match self {
            MhMessage::HomeAgentSwitch { addresses } => addresses,
            _ => &[],
        };
        a.chunks_exact(16).map(|c| addr6(c, 0))
    }
}

/// The meaning of a Mobility Header: the message and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MobilityRepr<'a> {
    pub message: MhMessage<'a>,
    pub options: MobilityOptions<'a>,
}

impl<'a> MobilityRepr<'a> {
    /// Parse without checking the checksum (for callers that verify it separately).
    /// The buffer must be exactly the Mobility Header (trailing octets are an error).
    #[inline(always)]
    pub fn parse_unverified(h: &MobilityHeader<&'a [u8]>) -> Result<MobilityRepr<'a>> {
        h.check_len()?;
        let b: &'a [u8] = h.buffer;
        let len = h.header_len();
        if b.len() > len {
            return err(ErrorKind::TrailingData, len);
        }
        if h.payload_proto() != u8::from(IpProtocol::NoNextHeader) {
            return err(ErrorKind::BadValue, field::PAYLOAD_PROTO);
        }
        if h.reserved() != 0 {
            return err(ErrorKind::NonZeroReserved, field::RESERVED);
        }
        let need = |n: usize| {
            if len < n {
                err(ErrorKind::BadLength, field::HEADER_LEN)
            } else {
                Ok(())
            }
        };
        let raw_type = b[field::MH_TYPE];
        let message = match MhType::from(raw_type) {
            MhType::BindingRefreshRequest => {
                need(field::BRR_OPTIONS)?;
                if be16(b, field::BRR_RESERVED.start) != 0 {
                    return err(ErrorKind::NonZeroReserved, field::BRR_RESERVED.start);
                }
                MhMessage::BindingRefreshRequest
            }
            MhType::BindingUpdate => {
                need(field::BU_OPTIONS)?;
                MhMessage::BindingUpdate {
                    sequence: be16(b, field::BU_SEQUENCE.start),
                    flags: be16(b, field::BU_FLAGS.start),
                    lifetime_4s: be16(b, field::BU_LIFETIME_4S.start),
                }
            }
            MhType::BindingAcknowledgement => {
                need(field::BA_OPTIONS)?;
                MhMessage::BindingAcknowledgement {
                    status: b[field::BA_STATUS],
                    flags: b[field::BA_FLAGS],
                    sequence: be16(b, field::BA_SEQUENCE.start),
                    lifetime_4s: be16(b, field::BA_LIFETIME_4S.start),
                }
            }
            MhType::BindingError => {
                need(field::BE_OPTIONS)?;
                if b[field::BE_RESERVED] != 0 {
                    return err(ErrorKind::NonZeroReserved, field::BE_RESERVED);
                }
                MhMessage::BindingError {
                    status: b[field::BE_STATUS],
                    home_address: addr6(b, field::BE_HOME_ADDRESS.start),
                }
            }
            MhType::HomeAgentSwitch => {
                need(field::HAS_ADDRESSES)?;
                let n = usize::from(b[field::HAS_NUM_ADDRESSES]);
                if b[field::HAS_RESERVED] != 0 {
                    return err(ErrorKind::NonZeroReserved, field::HAS_RESERVED);
                }
                if len < field::has_options(n) {
                    return err(ErrorKind::BadLength, field::HAS_NUM_ADDRESSES);
                }
                MhMessage::HomeAgentSwitch {
                    addresses: &b[field::HAS_ADDRESSES..field::has_options(n)],
                }
            }
            MhType::BindingRevocation
                if matches!(
                    b[field::BR_TYPE],
                    BR_TYPE_INDICATION | BR_TYPE_ACKNOWLEDGEMENT
                ) =>
            {
                need(field::BR_OPTIONS)?;
                let flags = be16(b, field::BR_FLAGS.start);
                if flags & br_flags::RESERVED != 0 {
                    return err(ErrorKind::NonZeroReserved, field::BR_FLAGS.start);
                }
                let sequence = be16(b, field::BR_SEQUENCE.start);
                let v = b[field::BR_TRIGGER_OR_STATUS];
                if b[field::BR_TYPE] == BR_TYPE_INDICATION {
                    MhMessage::BindingRevocationIndication {
                        revocation_trigger: v,
                        sequence,
                        flags,
                    }
                } else {
                    MhMessage::BindingRevocationAcknowledgement {
                        status: v,
                        sequence,
                        flags,
                    }
                }
            }
            _ => MhMessage::Unknown {
                mh_type: raw_type,
                data: &b[field::DATA..len],
            },
        };
        let start = message.options_offset();
        let options = MobilityOptions::parse(&b[start..len], start)?;
        Ok(MobilityRepr { message, options })
    }

    /// Parse and verify the checksum over the pseudo-header `src` → `dst` (pass the home
    /// address from a HAO as `src`, from an RH2 as `dst`).
    #[inline(always)]
    pub fn parse(
        h: &MobilityHeader<&'a [u8]>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> Result<MobilityRepr<'a>> {
        let r = Self::parse_unverified(h)?;
        if !h.verify_checksum(src, dst) {
            return err(ErrorKind::BadChecksum, field::CHECKSUM.start);
        }
        Ok(r)
    }

    /// Length once emitted (a multiple of 8).
    #[inline]
    pub fn buffer_len(&self) -> usize {
        let end = self.options.end_offset(self.message.options_offset());
        end.div_ceil(8) * 8
    }

    /// Write the header into `buf` (exactly `buffer_len()` octets), padding and checksum
    /// included.
    ///
    /// # Panics
    /// If `buf` is shorter than the layout needs, or the header exceeds 2048 octets. A `buf`
    /// other than exactly `buffer_len()` octets is a caller bug (checked in debug builds).
    pub fn emit(&self, buf: &mut [u8], src: &Ipv6Addr, dst: &Ipv6Addr) {
        let len = buf.len();
        debug_assert_eq!(
            len,
            self.buffer_len(),
            "emit buffer must be buffer_len() octets"
        );
        buf[field::PAYLOAD_PROTO] = IpProtocol::NoNextHeader.into();
        buf[field::HEADER_LEN] = (len / 8 - 1) as u8;
        buf[field::MH_TYPE] = self.message.mh_type().into();
        buf[field::RESERVED] = 0;
        match self.message {
            MhMessage::BindingRefreshRequest => put16(buf, field::BRR_RESERVED.start, 0),
            MhMessage::BindingUpdate {
                sequence,
                flags,
                lifetime_4s,
            } => {
                put16(buf, field::BU_SEQUENCE.start, sequence);
                put16(buf, field::BU_FLAGS.start, flags);
                put16(buf, field::BU_LIFETIME_4S.start, lifetime_4s);
            }
            MhMessage::BindingAcknowledgement {
                status,
                flags,
                sequence,
                lifetime_4s,
            } => {
                buf[field::BA_STATUS] = status;
                buf[field::BA_FLAGS] = flags;
                put16(buf, field::BA_SEQUENCE.start, sequence);
                put16(buf, field::BA_LIFETIME_4S.start, lifetime_4s);
            }
            MhMessage::BindingError {
                status,
                home_address,
            } => {
                buf[field::BE_STATUS] = status;
                buf[field::BE_RESERVED] = 0;
                buf[field::BE_HOME_ADDRESS].copy_from_slice(&home_address.octets());
            }
            MhMessage::HomeAgentSwitch { addresses } => {
                buf[field::HAS_NUM_ADDRESSES] = (addresses.len() / 16) as u8;
                buf[field::HAS_RESERVED] = 0;
                let end = field::has_options(addresses.len() / 16);
                buf[field::HAS_ADDRESSES..end].copy_from_slice(&addresses[..end - 8]);
            }
            MhMessage::BindingRevocationIndication {
                revocation_trigger,
                sequence,
                flags,
            } => {
                buf[field::BR_TYPE] = BR_TYPE_INDICATION;
                buf[field::BR_TRIGGER_OR_STATUS] = revocation_trigger;
                put16(buf, field::BR_SEQUENCE.start, sequence);
                put16(buf, field::BR_FLAGS.start, flags);
            }
            MhMessage::BindingRevocationAcknowledgement {
                status,
                sequence,
                flags,
            } => {
                buf[field::BR_TYPE] = BR_TYPE_ACKNOWLEDGEMENT;
                buf[field::BR_TRIGGER_OR_STATUS] = status;
                put16(buf, field::BR_SEQUENCE.start, sequence);
                put16(buf, field::BR_FLAGS.start, flags);
            }
            MhMessage::Unknown { data, .. } => {
                buf[field::DATA..field::DATA + data.len()].copy_from_slice(data);
            }
        }
        let start = self.message.options_offset();
        if let MhMessage::Unknown { .. } = self.message {
            buf[start..].fill(0);
        } else {
            self.options.emit(buf, start);
        }
        MobilityHeader::new_unchecked(&mut *buf).fill_checksum(src, dst);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::mhopt::MobilityOptionRepr as O;
    use core::net::Ipv4Addr;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    fn a6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }
    const HOA: &str = "2001:db8:1::1000";
    const COA: &str = "2001:db8:2::100";
    const HA: &str = "2001:db8:1::1";

    /// test-vectors.md §6, E1..E7: (MH hex, pseudo src, pseudo dst).
    fn vectors() -> [(&'static str, &'static str, &'static str); 7] {
        [
            (
                "3b040500ac3f0001d44003841d068000000000000100031020010db8000200000000000000000100",
                HOA,
                HA,
            ),
            ("3b0206006d1100c0000103841e060080c000020a01020000", HA, HOA),
            (
                "3b030500d2040002d40003841d068000c000020a20060000c633640701020000",
                HOA,
                HA,
            ),
            (
                "3b0306004d9300c0000203841e060080c000020a1f0600000000006e01020000",
                HA,
                HOA,
            ),
            (
                "3b040500f1f60003d00000001d068000c000020a0100031020010db8000200000000000000000100",
                HOA,
                HA,
            ),
            ("3b01100046e801010007000001020000", HA, HOA),
            ("3b01100045e902000007000001020000", HOA, HA),
        ]
    }

    #[test]
    fn vectors_parse_and_reemit() {
        for (h, s, d) in vectors() {
            let b = hex(h);
            let v = MobilityHeader::new_checked(&b[..]).unwrap();
            let r = MobilityRepr::parse(&v, &a6(s), &a6(d)).unwrap();
            let mut out = vec![0u8; r.buffer_len()];
            r.emit(&mut out, &a6(s), &a6(d));
            assert_eq!(out, b, "{h}");
            // The most common bug: the packet's source (CoA) instead of the HoA.
            assert_eq!(
                MobilityRepr::parse(&v, &a6(COA), &a6(d)).unwrap_err(),
                crate::Error::new(ErrorKind::BadChecksum, 4)
            );
        }
    }

    #[test]
    fn build_e1_from_fields() {
        let opts = [
            O::Ipv4HomeAddress {
                prefix_len: 32,
                p: false,
                address: Ipv4Addr::UNSPECIFIED,
            },
            O::AlternateCareOfAddress(a6(COA)),
        ];
        let r = MobilityRepr {
            message: MhMessage::BindingUpdate {
                sequence: 1,
                flags: bu_flags::A | bu_flags::H | bu_flags::K | bu_flags::R | bu_flags::O,
                lifetime_4s: 900,
            },
            options: MobilityOptions::List(&opts),
        };
        assert_eq!(r.buffer_len(), 40);
        let mut out = [0u8; 40];
        r.emit(&mut out, &a6(HOA), &a6(HA));
        assert_eq!(out.to_vec(), hex(vectors()[0].0));
    }

    #[test]
    fn build_e4_and_e6_from_fields() {
        let opts = [
            O::Ipv4AddressAcknowledgement {
                status: 0,
                prefix_len: 32,
                address: Ipv4Addr::new(192, 0, 2, 10),
            },
            O::NatDetection {
                f: false,
                refresh_time: 110,
            },
        ];
        let r = MobilityRepr {
            message: MhMessage::BindingAcknowledgement {
                status: 0,
                flags: ba_flags::K | ba_flags::R,
                sequence: 2,
                lifetime_4s: 900,
            },
            options: MobilityOptions::List(&opts),
        };
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out, &a6(HA), &a6(HOA));
        assert_eq!(out, hex(vectors()[3].0));
        let bri = MobilityRepr {
            message: MhMessage::BindingRevocationIndication {
                revocation_trigger: 1,
                sequence: 7,
                flags: 0,
            },
            options: MobilityOptions::EMPTY,
        };
        let mut out = vec![0u8; bri.buffer_len()];
        bri.emit(&mut out, &a6(HA), &a6(HOA));
        assert_eq!(out, hex(vectors()[5].0));
    }

    #[test]
    fn every_prefix_truncated() {
        for (h, s, d) in vectors() {
            let b = hex(h);
            for n in 0..b.len() {
                let e =
                    MobilityRepr::parse(&MobilityHeader::new_unchecked(&b[..n]), &a6(s), &a6(d))
                        .unwrap_err();
                assert_eq!(e.kind, ErrorKind::Truncated, "{h} prefix {n}");
            }
        }
    }

    #[test]
    fn unknown_type_kept_and_reemitted() {
        let mut b = hex("3b01170000000102030405060708090a");
        let (s, d) = (a6(HOA), a6(HA));
        MobilityHeader::new_unchecked(&mut b[..]).fill_checksum(&s, &d);
        let r = MobilityRepr::parse(&MobilityHeader::new_checked(&b[..]).unwrap(), &s, &d).unwrap();
        assert_eq!(
            r.message,
            MhMessage::Unknown {
                mh_type: 23,
                data: &b[6..16]
            }
        );
        let mut out = vec![0u8; r.buffer_len()];
        r.emit(&mut out, &s, &d);
        assert_eq!(out, b);
    }

    #[test]
    fn bad_header_len_and_payload_proto() {
        let (s, d) = (a6(HOA), a6(HA));
        // A BU needs 12 octets of fixed part: Header Len 0 (8 octets) is too short.
        let mut b = hex("3b00050000000001");
        MobilityHeader::new_unchecked(&mut b[..]).fill_checksum(&s, &d);
        let e = MobilityRepr::parse(&MobilityHeader::new_unchecked(&b[..]), &s, &d).unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadLength, 1));
        let mut b = hex(vectors()[5].0);
        b[0] = 6;
        let e = MobilityRepr::parse(&MobilityHeader::new_unchecked(&b[..]), &s, &d).unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadValue, 0));
    }
}
