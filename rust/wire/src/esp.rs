//! ESP framing (RFC 4303 §2): the cleartext header and the trailer found after decryption.
//! The cryptography lives elsewhere (dsmip6-dataplane); this module only lays out octets.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Security Parameters Index (SPI)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Sequence Number                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Payload Data, Padding (0-255), Pad Length, Next Header, ICV ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::field::Field;
use crate::{be32, err, put32, ErrorKind, IpProtocol, Result};

mod field {
    use super::Field;
    pub const SPI: Field = 0..4;
    pub const SEQUENCE: Field = 4..8;
}

pub const HEADER_LEN: usize = field::SEQUENCE.end;

#[derive(Debug, Clone)]
pub struct EspHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EspHeader<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        EspHeader { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<()> {
        let n = self.buffer.as_ref().len();
        if n < HEADER_LEN {
            return err(ErrorKind::Truncated, n);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn spi(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SPI.start)
    }
    pub fn sequence_number(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQUENCE.start)
    }
    /// Everything after the header (encrypted payload and ICV), opaque here.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EspHeader<T> {
    pub fn set_spi(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SPI.start, v);
    }
    pub fn set_sequence_number(&mut self, v: u32) {
        put32(self.buffer.as_mut(), field::SEQUENCE.start, v);
    }
}

/// The cleartext part of an ESP packet. `data` is the rest of the packet (ciphertext + ICV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspRepr<'a> {
    pub spi: u32,
    pub sequence_number: u32,
    pub data: &'a [u8],
}

impl<'a> EspRepr<'a> {
    /// Parse; SPI 0 is reserved (RFC 4303 §2.1) and rejected.
    pub fn parse(p: &EspHeader<&'a [u8]>) -> Result<EspRepr<'a>> {
        p.check_len()?;
        let b: &'a [u8] = p.buffer;
        let spi = p.spi();
        if spi == 0 {
            return err(ErrorKind::BadValue, field::SPI.start);
        }
        Ok(EspRepr {
            spi,
            sequence_number: p.sequence_number(),
            data: &b[HEADER_LEN..],
        })
    }
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }
    /// # Panics
    /// If the buffer is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut EspHeader<T>) {
        p.set_spi(self.spi);
        p.set_sequence_number(self.sequence_number);
        let b = p.buffer.as_mut();
        b[HEADER_LEN..HEADER_LEN + self.data.len()].copy_from_slice(self.data);
    }
}

/// The ESP trailer of a decrypted payload (RFC 4303 §2.4–2.6):
/// `payload ‖ padding (1, 2, 3, ...) ‖ Pad Length ‖ Next Header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspTrailerRepr {
    /// Octets of payload before the padding.
    pub payload_len: usize,
    pub pad_len: u8,
    pub next_header: IpProtocol,
}

impl EspTrailerRepr {
    /// Parse the trailer at the end of `plaintext` (ICV already removed). The padding must be
    /// the default monotonic sequence 1, 2, 3, ... (RFC 4303 §2.4).
    pub fn parse(plaintext: &[u8]) -> Result<EspTrailerRepr> {
        let n = plaintext.len();
        if n < 2 {
            return err(ErrorKind::Truncated, n);
        }
        let pad_len = plaintext[n - 2];
        let next_header = IpProtocol::from(plaintext[n - 1]);
        let pads = usize::from(pad_len);
        if pads + 2 > n {
            return err(ErrorKind::BadLength, n - 2);
        }
        let start = n - 2 - pads;
        for (i, &b) in plaintext[start..n - 2].iter().enumerate() {
            if usize::from(b) != i + 1 {
                return err(ErrorKind::BadValue, start + i);
            }
        }
        Ok(EspTrailerRepr {
            payload_len: start,
            pad_len,
            next_header,
        })
    }

    /// Padding needed after `payload_len` octets so that payload + trailer is a multiple of
    /// `block` (at least 4, RFC 4303 §2.4).
    pub fn for_payload(payload_len: usize, block: usize, next_header: IpProtocol) -> Self {
        let block = block.max(4);
        let pad = (block - (payload_len + 2) % block) % block;
        EspTrailerRepr {
            payload_len,
            pad_len: pad as u8,
            next_header,
        }
    }

    /// Octets the padding and the two trailer fields take.
    pub const fn trailer_len(&self) -> usize {
        self.pad_len as usize + 2
    }

    /// Write padding, Pad Length and Next Header into `buf` (exactly `trailer_len()` octets).
    ///
    /// # Panics
    /// If `buf` is shorter than [`trailer_len`](Self::trailer_len).
    pub fn emit(&self, buf: &mut [u8]) {
        let pads = usize::from(self.pad_len);
        for (i, b) in buf[..pads].iter_mut().enumerate() {
            *b = (i + 1) as u8;
        }
        buf[pads] = self.pad_len;
        buf[pads + 1] = self.next_header.into();
    }
}

#[cfg(test)]
mod test {
    use super::*;

    static PACKET: [u8; 12] = [0x00, 0x00, 0x10, 0x01, 0, 0, 0, 7, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn header_roundtrip() {
        let p = EspHeader::new_checked(&PACKET[..]).unwrap();
        let r = EspRepr::parse(&p).unwrap();
        assert_eq!(
            (r.spi, r.sequence_number, r.data),
            (0x1001, 7, &PACKET[8..])
        );
        let mut out = [0u8; 12];
        r.emit(&mut EspHeader::new_unchecked(&mut out[..]));
        assert_eq!(out, PACKET);
        for n in 0..8 {
            assert_eq!(
                EspHeader::new_checked(&PACKET[..n]).unwrap_err().kind,
                ErrorKind::Truncated
            );
        }
    }

    #[test]
    fn trailer() {
        let t = EspTrailerRepr::for_payload(5, 4, IpProtocol::Mobility);
        assert_eq!(t.pad_len, 1);
        let mut buf = [0u8; 8];
        buf[..5].copy_from_slice(b"hello");
        t.emit(&mut buf[5..]);
        assert_eq!(&buf[5..], &[1, 1, 135]);
        assert_eq!(EspTrailerRepr::parse(&buf).unwrap(), t);
        buf[5] = 9;
        assert_eq!(
            EspTrailerRepr::parse(&buf).unwrap_err().kind,
            ErrorKind::BadValue
        );
    }
}
