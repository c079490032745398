//! The IPv4 header (RFC 791 §3.1), for the IPv4-access cases of RFC 5555.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Only option-less (IHL = 5), unfragmented datagrams are parsed; others are reported as
//! [`ErrorKind::Unsupported`]. The header checksum is verified.

use crate::checksum;
use crate::field::Field;
use crate::{addr4, be16, err, put16, ErrorKind, IpProtocol, Result};
use core::net::Ipv4Addr;

mod field {
    use super::Field;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const TOTAL_LEN: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLAGS_FRAG: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

pub const HEADER_LEN: usize = field::DST_ADDR.end;
const FLAG_RESERVED: u16 = 0x8000;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;

#[derive(Debug, Clone)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Version 4, IHL = 5, and the buffer holds exactly `Total Length` octets.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.is_empty() {
            return err(ErrorKind::Truncated, 0);
        }
        if b[0] >> 4 != 4 {
            return err(ErrorKind::BadVersion, 0);
        }
        if b.len() < HEADER_LEN {
            return err(ErrorKind::Truncated, b.len());
        }
        let ihl = usize::from(b[0] & 0x0f) * 4;
        if ihl < HEADER_LEN {
            return err(ErrorKind::BadLength, field::VER_IHL);
        }
        if ihl != HEADER_LEN {
            return err(ErrorKind::Unsupported, field::VER_IHL);
        }
        let total = usize::from(self.total_len());
        if total < HEADER_LEN {
            return err(ErrorKind::BadLength, field::TOTAL_LEN.start);
        }
        if b.len() < total {
            return err(ErrorKind::Truncated, b.len());
        }
        if b.len() > total {
            return err(ErrorKind::TrailingData, total);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::TOTAL_LEN.start)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }
    pub fn flags_frag(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLAGS_FRAG.start)
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn src_addr(&self) -> Ipv4Addr {
        addr4(self.buffer.as_ref(), field::SRC_ADDR.start)
    }
    pub fn dst_addr(&self) -> Ipv4Addr {
        addr4(self.buffer.as_ref(), field::DST_ADDR.start)
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(0, &self.buffer.as_ref()[..HEADER_LEN])
    }
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).clamp(HEADER_LEN, b.len());
        &b[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn fill_checksum(&mut self) {
        let b = self.buffer.as_mut();
        put16(b, field::CHECKSUM.start, 0);
        let c = checksum::checksum(0, &b[..HEADER_LEN]);
        put16(b, field::CHECKSUM.start, c);
    }
}

/// The meaning of an option-less, unfragmented IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src_addr: Ipv4Addr,
    pub dst_addr: Ipv4Addr,
    pub protocol: IpProtocol,
    pub payload_len: u16,
    pub ttl: u8,
    pub tos: u8,
    pub identification: u16,
    pub dont_fragment: bool,
}

impl Ipv4Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Result<Ipv4Repr> {
        p.check_len()?;
        let ff = p.flags_frag();
        if ff & FLAG_RESERVED != 0 {
            return err(ErrorKind::NonZeroReserved, field::FLAGS_FRAG.start);
        }
        if ff & FLAG_MF != 0 || ff & 0x1fff != 0 {
            return err(ErrorKind::Unsupported, field::FLAGS_FRAG.start);
        }
        if !p.verify_checksum() {
            return err(ErrorKind::BadChecksum, field::CHECKSUM.start);
        }
        Ok(Ipv4Repr {
            src_addr: p.src_addr(),
            dst_addr: p.dst_addr(),
            protocol: p.protocol(),
            payload_len: p.total_len() - HEADER_LEN as u16,
            ttl: p.ttl(),
            tos: p.tos(),
            identification: p.ident(),
            dont_fragment: ff & FLAG_DF != 0,
        })
    }

    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header, checksum included.
    ///
    /// # Panics
    /// If the buffer is shorter than [`HEADER_LEN`], or `payload_len` + 20 overflows u16.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Ipv4Packet<T>) {
        let b = p.buffer.as_mut();
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.tos;
        put16(
            b,
            field::TOTAL_LEN.start,
            self.payload_len + HEADER_LEN as u16,
        );
        put16(b, field::IDENT.start, self.identification);
        put16(
            b,
            field::FLAGS_FRAG.start,
            if self.dont_fragment { FLAG_DF } else { 0 },
        );
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol.into();
        b[field::SRC_ADDR].copy_from_slice(&self.src_addr.octets());
        b[field::DST_ADDR].copy_from_slice(&self.dst_addr.octets());
        p.fill_checksum();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    // test-vectors.md §6, packet E3: the IPv4 header (checksum 0x144d).
    const E3_HDR: [u8; 20] = [
        0x45, 0, 0, 0x64, 0, 0, 0, 0, 0x40, 0x11, 0x14, 0x4d, 0xc6, 0x33, 0x64, 0x07, 0xcb, 0x00,
        0x71, 0x01,
    ];

    #[test]
    fn vector_e3_header() {
        let mut buf = [0u8; 100];
        buf[..20].copy_from_slice(&E3_HDR);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        let r = Ipv4Repr::parse(&p).unwrap();
        assert_eq!(r.src_addr, Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(r.dst_addr, Ipv4Addr::new(203, 0, 113, 1));
        assert_eq!(r.protocol, IpProtocol::Udp);
        assert_eq!(r.payload_len, 80);
        let mut out = [0u8; 20];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut out[..]));
        assert_eq!(out, E3_HDR);
        buf[11] ^= 1;
        let e = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&buf[..])).unwrap_err();
        assert_eq!(e, crate::Error::new(ErrorKind::BadChecksum, 10));
    }

    #[test]
    fn fragments_and_options_unsupported() {
        let mut buf = [0u8; 100];
        buf[..20].copy_from_slice(&E3_HDR);
        buf[6] = 0x20;
        let e = Ipv4Repr::parse(&Ipv4Packet::new_unchecked(&buf[..])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unsupported);
        buf[6] = 0;
        buf[0] = 0x46;
        assert_eq!(
            Ipv4Packet::new_checked(&buf[..]).unwrap_err().kind,
            ErrorKind::Unsupported
        );
    }
}
