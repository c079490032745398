//! Whole packets: an IPv6 or IPv4 header followed by its chain of extension headers and
//! payloads, down to the Mobility Header, ESP, UDP (with RFC 5555 encapsulation on port 4191
//! and RFC 3948 ESP-in-UDP on port 4500) or inner IP packets (next header 41 / 4).
//!
//! [`parse_packet`] validates everything it walks through (lengths, alignment, reserved bits,
//! the IPv4 header checksum, UDP checksums and the Mobility Header checksum with the home
//! address substituted from a Home Address option / Type 2 Routing header, RFC 6275 §6.1.1) and
//! returns the layers without allocating. [`emit_packet`] is its inverse: it recomputes
//! lengths and checksums, so `emit_packet(parse_packet(x)) == x` for every valid `x`.

use crate::esp::{EspHeader, EspRepr};
use crate::ipv4::{self, Ipv4Packet, Ipv4Repr};
use crate::ipv6::{self, Ipv6Packet, Ipv6Repr};
use crate::ipv6opt::{DestOptsHeader, DestOptsRepr};
use crate::ipv6routing::{RoutingHeader2, RoutingHeader2Repr};
use crate::mh::{MobilityHeader, MobilityRepr};
use crate::udp::{self, PseudoAddrs, UdpPacket, UdpRepr};
use crate::{err, Error, ErrorKind, IpProtocol, Result};
use core::net::Ipv6Addr;

/// The deepest chain [`parse_packet`] follows.
pub const MAX_LAYERS: usize = 16;

/// One layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer<'a> {
    Ipv6(Ipv6Repr),
    Ipv4(Ipv4Repr),
    DestOpts(DestOptsRepr<'a>),
    Routing2(RoutingHeader2Repr),
    Mobility(MobilityRepr<'a>),
    Udp(UdpRepr),
    Esp(EspRepr<'a>),
    /// Octets this codec does not decode further (an upper layer, IKE on port 4500, ...).
    Raw(&'a [u8]),
}

impl Layer<'_> {
    /// Octets of this layer's own header (Raw and ESP: everything).
    #[inline]
    pub fn header_len(&self) -> usize {
        match self {
            Layer::Ipv6(_) => ipv6::HEADER_LEN,
            Layer::Ipv4(_) => ipv4::HEADER_LEN,
            Layer::DestOpts(d) => d.buffer_len(),
            Layer::Routing2(_) => crate::ipv6routing::HEADER_LEN,
            Layer::Mobility(m) => m.buffer_len(),
            Layer::Udp(_) => udp::HEADER_LEN,
            Layer::Esp(e) => e.buffer_len(),
            Layer::Raw(r) => r.len(),
        }
    }
}

/// A fixed-capacity list of layers with the octet offset where each starts.
#[derive(Debug, Clone, Copy)]
pub struct Layers<'a> {
    items: [Layer<'a>; MAX_LAYERS],
    offsets: [usize; MAX_LAYERS],
    len: usize,
}

impl<'a> Layers<'a> {
    fn new() -> Self {
        Layers {
            items: [Layer::Raw(&[]); MAX_LAYERS],
            offsets: [0; MAX_LAYERS],
            len: 0,
        }
    }
    fn push(&mut self, l: Layer<'a>, offset: usize) -> Result<()> {
        if self.len == MAX_LAYERS {
            return err(ErrorKind::TooManyLayers, offset);
        }
        self.items[self.len] = l;
        self.offsets[self.len] = offset;
        self.len += 1;
        Ok(())
    }
    pub fn as_slice(&self) -> &[Layer<'a>] {
        &self.items[..self.len]
    }
    pub fn offsets(&self) -> &[usize] {
        &self.offsets[..self.len]
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Clone, Copy)]
enum Step {
    Ip6,
    Ip4,
    Proto(IpProtocol),
    UdpPayload(u16, u16),
    Done,
}

/// Parse a whole IPv6 or IPv4 packet (chosen by the version nibble).
///
/// # Errors
/// The first problem found, with its offset from the start of `buf`. A bad Mobility Header
/// checksum is [`ErrorKind::BadChecksum`] at the MH checksum field.
pub fn parse_packet(buf: &[u8]) -> Result<Layers<'_>> {
    let mut layers = Layers::new();
    parse_packet_with(buf, |l, off| layers.push(l, off))?;
    Ok(layers)
}

/// Validate a whole packet like [`parse_packet`], handing each layer and its offset to
/// `visit` instead of collecting them (no copying of the layer list).
///
/// # Errors
/// As [`parse_packet`], or the first error `visit` returns.
pub fn parse_packet_with<'a>(
    buf: &'a [u8],
    mut visit: impl FnMut(Layer<'a>, usize) -> Result<()>,
) -> Result<()> {
    let mut layers = Counter {
        visit: &mut visit,
        n: 0,
    };
    let mut off = 0usize;
    let end = buf.len();
    let mut step = match buf.first() {
        None => return err(ErrorKind::Truncated, 0),
        Some(b) if b >> 4 == 6 => Step::Ip6,
        Some(b) if b >> 4 == 4 => Step::Ip4,
        Some(_) => return err(ErrorKind::BadVersion, 0),
    };
    // Pseudo-header addresses for the innermost IP header (IPv6: after HAO/RH2 substitution).
    let mut pseudo6: Option<(Ipv6Addr, Ipv6Addr)> = None;
    let mut addrs: Option<PseudoAddrs> = None;
    loop {
        let rest = &buf[off..end];
        let at = |e: Error| e.shift(off);
        match step {
            Step::Done => break,
            Step::Ip6 => {
                let p = Ipv6Packet::new_checked(rest).map_err(at)?;
                let r = Ipv6Repr::parse(&p).map_err(at)?;
                layers.push(Layer::Ipv6(r), off)?;
                pseudo6 = Some((r.src_addr, r.dst_addr));
                addrs = Some(PseudoAddrs::V6(r.src_addr, r.dst_addr));
                off += ipv6::HEADER_LEN;
                step = Step::Proto(r.next_header);
            }
            Step::Ip4 => {
                let p = Ipv4Packet::new_checked(rest).map_err(at)?;
                let r = Ipv4Repr::parse(&p).map_err(at)?;
                layers.push(Layer::Ipv4(r), off)?;
                pseudo6 = None;
                addrs = Some(PseudoAddrs::V4(r.src_addr, r.dst_addr));
                off += ipv4::HEADER_LEN;
                step = Step::Proto(r.protocol);
            }
            Step::Proto(proto) => {
                let in6 = pseudo6.is_some();
                match proto {
                    IpProtocol::Ipv6Opts if in6 => {
                        let h = DestOptsHeader::new_checked(rest).map_err(at)?;
                        let (r, hao) = DestOptsRepr::parse_with_home_address(&h).map_err(at)?;
                        if let (Some(hoa), Some(p)) = (hao, pseudo6.as_mut()) {
                            p.0 = hoa;
                        }
                        layers.push(Layer::DestOpts(r), off)?;
                        off += h.header_len();
                        step = Step::Proto(r.next_header);
                    }
                    IpProtocol::Ipv6Route if in6 => {
                        let h = RoutingHeader2::new_checked(rest).map_err(at)?;
                        let r = RoutingHeader2Repr::parse(&h).map_err(at)?;
                        if let Some(p) = pseudo6.as_mut() {
                            p.1 = r.home_address;
                        }
                        layers.push(Layer::Routing2(r), off)?;
                        off += r.buffer_len();
                        step = Step::Proto(r.next_header);
                    }
                    IpProtocol::Mobility if in6 => {
                        let (s, d) =
                            pseudo6.unwrap_or((Ipv6Addr::UNSPECIFIED, Ipv6Addr::UNSPECIFIED));
                        let h = MobilityHeader::new_checked(rest).map_err(at)?;
                        let r = MobilityRepr::parse(&h, &s, &d).map_err(at)?;
                        layers.push(Layer::Mobility(r), off)?;
                        off = end;
                        step = Step::Done;
                    }
                    IpProtocol::Esp => {
                        let r = EspRepr::parse(&EspHeader::new_checked(rest).map_err(at)?)
                            .map_err(at)?;
                        layers.push(Layer::Esp(r), off)?;
                        off = end;
                        step = Step::Done;
                    }
                    IpProtocol::Udp => {
                        let a = match (pseudo6, addrs) {
                            (Some((s, d)), _) => PseudoAddrs::V6(s, d),
                            (None, Some(a)) => a,
                            (None, None) => return err(ErrorKind::BadValue, off),
                        };
                        let p = UdpPacket::new_checked(rest).map_err(at)?;
                        let r = UdpRepr::parse(&p, &a).map_err(at)?;
                        layers.push(Layer::Udp(r), off)?;
                        off += udp::HEADER_LEN;
                        step = Step::UdpPayload(r.src_port, r.dst_port);
                    }
                    IpProtocol::Ipv6 => step = Step::Ip6,
                    IpProtocol::Ipv4 => step = Step::Ip4,
                    _ => {
                        if !rest.is_empty() {
                            layers.push(Layer::Raw(rest), off)?;
                        }
                        off = end;
                        step = Step::Done;
                    }
                }
            }
            Step::UdpPayload(sp, dp) => {
                let is = |port: u16| sp == port || dp == port;
                step = Step::Done;
                if rest.is_empty() {
                    continue;
                }
                if is(udp::DSMIPV6_PORT) {
                    // RFC 5555 §4.1: the version nibble tells the inner packet's family.
                    step = match rest[0] >> 4 {
                        6 => Step::Ip6,
                        4 => Step::Ip4,
                        _ => return err(ErrorKind::BadVersion, off),
                    };
                    continue;
                }
                // RFC 3948 §2.2: a zero "non-ESP marker" means IKE; a lone 0xff is a keepalive.
                let is_esp = is(udp::IKE_NAT_T_PORT)
                    && rest != [0xff]
                    && !(rest.len() >= 4 && rest[..4] == [0, 0, 0, 0]);
                if is_esp {
                    let r =
                        EspRepr::parse(&EspHeader::new_checked(rest).map_err(at)?).map_err(at)?;
                    layers.push(Layer::Esp(r), off)?;
                } else {
                    layers.push(Layer::Raw(rest), off)?;
                }
                off = end;
            }
        }
    }
    Ok(())
}

/// Forwards layers to the visitor and enforces [`MAX_LAYERS`].
struct Counter<'v, F> {
    visit: &'v mut F,
    n: usize,
}

impl<'a, F: FnMut(Layer<'a>, usize) -> Result<()>> Counter<'_, F> {
    #[inline]
    fn push(&mut self, l: Layer<'a>, offset: usize) -> Result<()> {
        if self.n == MAX_LAYERS {
            return err(ErrorKind::TooManyLayers, offset);
        }
        self.n += 1;
        (self.visit)(l, offset)
    }
}

/// Octets [`emit_packet`] writes for `layers`.
#[inline]
pub fn packet_len(layers: &[Layer]) -> usize {
    layers.iter().map(Layer::header_len).sum()
}

/// Pseudo-header addresses for a layer following `before`: those of the innermost IP header,
/// for IPv6 with the source replaced by the nearest Home Address option and the destination by
/// the nearest Type 2 Routing header after it (RFC 6275 §6.3, §6.4). Walks back from the end,
/// so only layers that need a checksum pay for it.
fn pseudo_addrs(before: &[Layer]) -> Option<PseudoAddrs> {
    let (mut hoa, mut rh2) = (None, None);
    for l in before.iter().rev() {
        match l {
            Layer::Ipv6(r) => {
                return Some(PseudoAddrs::V6(
                    hoa.unwrap_or(r.src_addr),
                    rh2.unwrap_or(r.dst_addr),
                ));
            }
            Layer::Ipv4(r) => return Some(PseudoAddrs::V4(r.src_addr, r.dst_addr)),
            Layer::DestOpts(d) if hoa.is_none() => hoa = d.home_address(),
            Layer::Routing2(r) if rh2.is_none() => rh2 = Some(r.home_address),
            _ => {}
        }
    }
    None
}

/// Write `layers` into `buf` (exactly [`packet_len`] octets), recomputing IPv6 Payload Length,
/// IPv4 Total Length and header checksum, UDP length and checksum, and the Mobility Header
/// checksum (HAO/RH2 substitution). Next-header fields are taken from the representations.
///
/// # Errors
/// [`ErrorKind::BadValue`] if a layer needs a pseudo-header that no preceding IP header gives
/// (a Mobility Header without IPv6, UDP without IP) or a length exceeds its field.
///
/// # Panics
/// If `buf.len() != packet_len(layers)` or `layers.len() > MAX_LAYERS`.
pub fn emit_packet(layers: &[Layer], buf: &mut [u8]) -> Result<()> {
    assert!(layers.len() <= MAX_LAYERS);
    LaidOut::new(layers)
        .expect("at most MAX_LAYERS layers")
        .emit(buf)
}

/// Layers with the octet length of each computed once ([`Layer::header_len`] lays out option
/// lists, which costs more than writing them): a caller sizes its buffer with
/// [`total`](Self::total), checks per-layer limits with [`lens`](Self::lens), and
/// [`emit`](Self::emit) reuses the same figures.
#[derive(Debug, Clone, Copy)]
pub struct LaidOut<'l, 'a> {
    layers: &'l [Layer<'a>],
    lens: [usize; MAX_LAYERS],
    total: usize,
}

impl<'l, 'a> LaidOut<'l, 'a> {
    /// Lay out `layers`; None if there are more than [`MAX_LAYERS`].
    #[inline]
    pub fn new(layers: &'l [Layer<'a>]) -> Option<Self> {
        if layers.len() > MAX_LAYERS {
            return None;
        }
        let mut lens = [0usize; MAX_LAYERS];
        let mut total = 0usize;
        for (n, l) in lens.iter_mut().zip(layers) {
            *n = l.header_len();
            total = total.saturating_add(*n);
        }
        Some(LaidOut {
            layers,
            lens,
            total,
        })
    }

    /// Octets of the whole packet (equal to [`packet_len`]).
    #[inline]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Octets of each layer (equal to [`Layer::header_len`]).
    #[inline]
    pub fn lens(&self) -> &[usize] {
        &self.lens[..self.layers.len()]
    }

    /// [`emit_packet`] with the lengths computed by [`new`](Self::new).
    ///
    /// # Errors
    /// As [`emit_packet`].
    ///
    /// # Panics
    /// If `buf.len() != self.total()`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<()> {
        let layers = self.layers;
        let lens = &self.lens;
        let total = self.total;
        assert_eq!(
            buf.len(),
            total,
            "emit_packet needs exactly packet_len() octets"
        );
        let mut offs = [0usize; MAX_LAYERS];
        let mut off = 0;
        for (o, n) in offs.iter_mut().zip(self.lens()) {
            *o = off;
            off += n;
        }
        for i in (0..layers.len()).rev() {
            let o = offs[i];
            let l = &layers[i];
            let here = &mut buf[o..];
            let rest_len = total - o;
            match l {
                Layer::Ipv6(r) => {
                    let mut r = *r;
                    r.payload_len = u16::try_from(rest_len - ipv6::HEADER_LEN)
                        .map_err(|_| Error::new(ErrorKind::BadLength, o + 4))?;
                    r.emit(&mut Ipv6Packet::new_unchecked(
                        &mut here[..ipv6::HEADER_LEN],
                    ));
                }
                Layer::Ipv4(r) => {
                    let mut r = *r;
                    r.payload_len = u16::try_from(rest_len)
                        .ok()
                        .and_then(|n| n.checked_sub(ipv4::HEADER_LEN as u16))
                        .filter(|n| *n <= u16::MAX - ipv4::HEADER_LEN as u16)
                        .ok_or(Error::new(ErrorKind::BadLength, o + 2))?;
                    r.emit(&mut Ipv4Packet::new_unchecked(
                        &mut here[..ipv4::HEADER_LEN],
                    ));
                }
                Layer::DestOpts(d) => d.emit(&mut here[..lens[i]]),
                Layer::Routing2(r) => r.emit(&mut here[..r.buffer_len()]),
                Layer::Mobility(m) => {
                    let Some(PseudoAddrs::V6(s, d)) = pseudo_addrs(&layers[..i]) else {
                        return err(ErrorKind::BadValue, o);
                    };
                    m.emit(&mut here[..lens[i]], &s, &d);
                }
                Layer::Udp(u) => {
                    let Some(a) = pseudo_addrs(&layers[..i]) else {
                        return err(ErrorKind::BadValue, o);
                    };
                    if rest_len > usize::from(u16::MAX) {
                        return err(ErrorKind::BadLength, o + 4);
                    }
                    u.emit(&mut UdpPacket::new_unchecked(&mut here[..rest_len]), &a);
                }
                Layer::Esp(e) => e.emit(&mut EspHeader::new_unchecked(&mut here[..lens[i]])),
                Layer::Raw(r) => here[..r.len()].copy_from_slice(r),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::mh::MhMessage;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    pub(crate) const E1: &str =
        "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001
        870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000
        000000000100031020010db8000200000000000000000100";
    pub(crate) const E2: &str =
        "6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100
        870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080
        c000020a01020000";
    pub(crate) const E3: &str =
        "45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db8
        00010000000000000000100020010db80001000000000000000000013b030500d2040002d4000384
        1d068000c000020a20060000c633640701020000";

    #[test]
    fn full_vectors_roundtrip() {
        for (v, kinds) in [(E1, "6 D M"), (E2, "6 R M"), (E3, "4 U 6 M")] {
            let b = hex(v);
            let layers = parse_packet(&b).unwrap();
            let got: Vec<&str> = layers
                .as_slice()
                .iter()
                .map(|l| match l {
                    Layer::Ipv6(_) => "6",
                    Layer::Ipv4(_) => "4",
                    Layer::DestOpts(_) => "D",
                    Layer::Routing2(_) => "R",
                    Layer::Mobility(_) => "M",
                    Layer::Udp(_) => "U",
                    Layer::Esp(_) => "E",
                    Layer::Raw(_) => "X",
                })
                .collect();
            assert_eq!(got.join(" "), kinds);
            let mut out = vec![0u8; packet_len(layers.as_slice())];
            emit_packet(layers.as_slice(), &mut out).unwrap();
            assert_eq!(out, b);
            for n in 0..b.len() {
                assert_eq!(
                    parse_packet(&b[..n]).unwrap_err().kind,
                    ErrorKind::Truncated,
                    "prefix {n}"
                );
            }
        }
    }

    #[test]
    fn e1_is_a_bu_with_hao_checksum() {
        let b = hex(E1);
        let layers = parse_packet(&b).unwrap();
        let Layer::Mobility(m) = layers.as_slice()[2] else {
            panic!()
        };
        assert!(matches!(
            m.message,
            MhMessage::BindingUpdate {
                sequence: 1,
                flags: 0xd440,
                lifetime_4s: 900
            }
        ));
        // Corrupt the HAO address: the MH checksum no longer verifies (pseudo src = HoA).
        let mut bad = b.clone();
        bad[40 + 23] ^= 1;
        assert_eq!(
            parse_packet(&bad).unwrap_err(),
            Error::new(ErrorKind::BadChecksum, 64 + 4)
        );
    }

    #[test]
    fn trailing_and_esp_in_udp() {
        let mut b = hex(E2);
        b.push(0);
        assert_eq!(
            parse_packet(&b).unwrap_err(),
            Error::new(ErrorKind::TrailingData, 88)
        );
        // IPv4 / UDP 4500 / ESP, and IKE behind the non-ESP marker.
        let src = core::net::Ipv4Addr::new(198, 51, 100, 7);
        let dst = core::net::Ipv4Addr::new(203, 0, 113, 1);
        let mk = |payload: &[u8]| {
            let layers = [
                Layer::Ipv4(Ipv4Repr {
                    src_addr: src,
                    dst_addr: dst,
                    protocol: IpProtocol::Udp,
                    payload_len: 0,
                    ttl: 64,
                    tos: 0,
                    identification: 1,
                    dont_fragment: true,
                }),
                Layer::Udp(UdpRepr {
                    src_port: 4500,
                    dst_port: 4500,
                    zero_checksum: false,
                }),
                Layer::Raw(payload),
            ];
            let mut out = vec![0u8; packet_len(&layers)];
            emit_packet(&layers, &mut out).unwrap();
            out
        };
        let esp = mk(&[0, 0, 0x10, 1, 0, 0, 0, 1, 9, 9, 9, 9]);
        let l = parse_packet(&esp).unwrap();
        assert!(matches!(
            l.as_slice()[2],
            Layer::Esp(EspRepr {
                spi: 0x1001,
                sequence_number: 1,
                ..
            })
        ));
        let ike = mk(&[0, 0, 0, 0, 1, 2, 3, 4]);
        assert!(matches!(
            parse_packet(&ike).unwrap().as_slice()[2],
            Layer::Raw(_)
        ));
    }
}
