//! The Type 2 Routing header (RFC 6275 §6.4), carrying the mobile node's home address.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  | Hdr Ext Len=2 | Routing Type=2|Segments Left=1|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Reserved                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! +                         Home Address                          +
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Hdr Ext Len MUST be 2 and Segments Left MUST be 1 (RFC 6275 §6.4.1); other routing types
//! are reported as [`ErrorKind::Unsupported`].

use crate::field::Field;
use crate::{addr6, be32, err, ErrorKind, IpProtocol, Result};
use core::net::Ipv6Addr;

mod field {
    use super::Field;
    pub const NEXT_HEADER: usize = 0;
    pub const LENGTH: usize = 1;
    pub const TYPE: usize = 2;
    pub const SEG_LEFT: usize = 3;
    pub const RESERVED: Field = 4..8;
    pub const HOME_ADDRESS: Field = 8..24;
}

pub const HEADER_LEN: usize = field::HOME_ADDRESS.end;
pub const ROUTING_TYPE_2: u8 = 2;

#[derive(Debug, Clone)]
pub struct RoutingHeader2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> RoutingHeader2<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        RoutingHeader2 { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Checks the length field too: a Type 2 header is always 24 octets.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < 4 {
            return err(ErrorKind::Truncated, b.len());
        }
        if b[field::TYPE] != ROUTING_TYPE_2 {
            return err(ErrorKind::Unsupported, field::TYPE);
        }
        if b[field::LENGTH] != 2 {
            return err(ErrorKind::BadLength, field::LENGTH);
        }
        if b.len() < HEADER_LEN {
            return err(ErrorKind::Truncated, b.len());
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NEXT_HEADER])
    }
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEG_LEFT]
    }
    pub fn reserved(&self) -> u32 {
        be32(self.buffer.as_ref(), field::RESERVED.start)
    }
    pub fn home_address(&self) -> Ipv6Addr {
        addr6(self.buffer.as_ref(), field::HOME_ADDRESS.start)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutingHeader2Repr {
    pub next_header: IpProtocol,
    pub home_address: Ipv6Addr,
}

impl RoutingHeader2Repr {
    pub fn parse<T: AsRef<[u8]>>(h: &RoutingHeader2<T>) -> Result<RoutingHeader2Repr> {
        h.check_len()?;
        if h.segments_left() != 1 {
            return err(ErrorKind::BadValue, field::SEG_LEFT);
        }
        if h.reserved() != 0 {
            return err(ErrorKind::NonZeroReserved, field::RESERVED.start);
        }
        Ok(RoutingHeader2Repr {
            next_header: h.next_header(),
            home_address: h.home_address(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }
    /// # Panics
    /// If `buf` is shorter than 24 octets.
    pub fn emit(&self, buf: &mut [u8]) {
        buf[field::NEXT_HEADER] = self.next_header.into();
        buf[field::LENGTH] = 2;
        buf[field::TYPE] = ROUTING_TYPE_2;
        buf[field::SEG_LEFT] = 1;
        buf[field::RESERVED].fill(0);
        buf[field::HOME_ADDRESS].copy_from_slice(&self.home_address.octets());
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // test-vectors.md §6 E2: RH2 carrying 2001:db8:1::1000, next header MH.
    const E2_RH2: [u8; 24] = [
        0x87, 0x02, 0x02, 0x01, 0, 0, 0, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0x01, 0, 0, 0, 0, 0, 0, 0,
        0, 0x10, 0x00,
    ];

    #[test]
    fn parse_emit_e2() {
        let r =
            RoutingHeader2Repr::parse(&RoutingHeader2::new_checked(&E2_RH2[..]).unwrap()).unwrap();
        assert_eq!(
            r.home_address,
            "2001:db8:1::1000".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(r.next_header, IpProtocol::Mobility);
        let mut out = [0u8; 24];
        r.emit(&mut out);
        assert_eq!(out, E2_RH2);
        for n in 0..24 {
            assert_eq!(
                RoutingHeader2::new_checked(&E2_RH2[..n]).unwrap_err().kind,
                ErrorKind::Truncated
            );
        }
        let mut bad = E2_RH2;
        bad[3] = 0;
        assert_eq!(
            RoutingHeader2Repr::parse(&RoutingHeader2::new_unchecked(&bad[..]))
                .unwrap_err()
                .kind,
            ErrorKind::BadValue
        );
    }
}
