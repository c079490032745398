//! UDP (RFC 768), as used for RFC 5555 encapsulation (port 4191) and ESP-in-UDP (RFC 3948,
//! port 4500).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   Source Port   |Destination Port |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```

use crate::checksum;
use crate::field::Field;
use crate::{be16, err, put16, ErrorKind, Result};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod field {
    use super::Field;
    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

pub const HEADER_LEN: usize = field::CHECKSUM.end;
/// RFC 5555 §2.3.2.2: the "dsmipv6" port.
pub const DSMIPV6_PORT: u16 = 4191;
/// RFC 3948 / RFC 7296 §2.23: IKE and ESP in UDP.
pub const IKE_NAT_T_PORT: u16 = 4500;

/// The pseudo-header addresses a UDP checksum covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PseudoAddrs {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

impl PseudoAddrs {
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<PseudoAddrs> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(PseudoAddrs::V4(s, d)),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(PseudoAddrs::V6(s, d)),
            _ => None,
        }
    }
    fn sum(&self, len: usize) -> u64 {
        match self {
            PseudoAddrs::V4(s, d) => checksum::pseudo_v4(s, d, 17, len as u16),
            PseudoAddrs::V6(s, d) => checksum::pseudo_v6(s, d, 17, len as u32),
        }
    }
}

#[derive(Debug, Clone)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// The buffer holds exactly `Length` octets, and `Length` >= 8.
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return err(ErrorKind::Truncated, b.len());
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return err(ErrorKind::BadLength, field::LENGTH.start);
        }
        if b.len() < len {
            return err(ErrorKind::Truncated, b.len());
        }
        if b.len() > len {
            return err(ErrorKind::TrailingData, len);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.len()).clamp(HEADER_LEN, b.len());
        &b[HEADER_LEN..end]
    }
    /// Verify the checksum over the pseudo-header. A zero checksum means "none" (IPv4 only).
    pub fn verify_checksum(&self, addrs: &PseudoAddrs) -> bool {
        let b = self.buffer.as_ref();
        if self.checksum() == 0 {
            return matches!(addrs, PseudoAddrs::V4(..));
        }
        checksum::verify(addrs.sum(b.len()), b)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn fill_checksum(&mut self, addrs: &PseudoAddrs) {
        let b = self.buffer.as_mut();
        put16(b, field::CHECKSUM.start, 0);
        let mut c = checksum::checksum(addrs.sum(b.len()), b);
        if c == 0 {
            c = 0xffff; // RFC 768: a computed zero is sent as all-ones.
        }
        put16(b, field::CHECKSUM.start, c);
    }
}

/// The meaning of a UDP header. `zero_checksum` keeps an IPv4 datagram sent without a checksum
/// (a legal zero) so that `emit(parse(x)) == x`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub zero_checksum: bool,
}

impl UdpRepr {
    /// Parse and verify the checksum over `addrs`.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>, addrs: &PseudoAddrs) -> Result<UdpRepr> {
        p.check_len()?;
        if !p.verify_checksum(addrs) {
            return err(ErrorKind::BadChecksum, field::CHECKSUM.start);
        }
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            zero_checksum: p.checksum() == 0,
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Write the header over a buffer that already holds the payload after the first 8 octets;
    /// the buffer's length is the datagram length. The checksum is computed unless
    /// `zero_checksum` (IPv4 only).
    ///
    /// # Panics
    /// If the buffer is shorter than 8 octets or longer than 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut UdpPacket<T>, addrs: &PseudoAddrs) {
        let len = p.buffer.as_ref().len();
        let b = p.buffer.as_mut();
        put16(b, field::SRC_PORT.start, self.src_port);
        put16(b, field::DST_PORT.start, self.dst_port);
        put16(
            b,
            field::LENGTH.start,
            u16::try_from(len).unwrap_or(u16::MAX),
        );
        put16(b, field::CHECKSUM.start, 0);
        if !(self.zero_checksum && matches!(addrs, PseudoAddrs::V4(..))) {
            p.fill_checksum(addrs);
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn vector_e3_udp_checksum() {
        // test-vectors.md §6 E3: UDP 4191 -> 4191, length 0x50, checksum 0x9199.
        let hex = "105f105f00509199600000000020874020010db8000100000000000000001000\
                   20010db80001000000000000000000013b030500d2040002d40003841d068000\
                   c000020a20060000c633640701020000";
        let b: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let addrs = PseudoAddrs::V4(
            Ipv4Addr::new(198, 51, 100, 7),
            Ipv4Addr::new(203, 0, 113, 1),
        );
        let p = UdpPacket::new_checked(&b[..]).unwrap();
        let r = UdpRepr::parse(&p, &addrs).unwrap();
        assert_eq!(
            (r.src_port, r.dst_port, r.zero_checksum),
            (4191, 4191, false)
        );
        let mut out = b.clone();
        out[..8].fill(0);
        r.emit(&mut UdpPacket::new_unchecked(&mut out[..]), &addrs);
        assert_eq!(out, b);
    }
}
