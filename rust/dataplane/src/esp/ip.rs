//! The little IP parsing ESP needs: find where ESP goes (transport mode, RFC 4303 §3.1.1) or
//! where it is, fix lengths and checksums. Deliberately independent of `dsmip6-wire`.
//!
//! IPv6 transport mode: ESP follows the IPv6 header and any Hop-by-Hop (0), Routing (43, e.g.
//! the Type 2 RH of a BA) and Destination Options (60, e.g. the HAO of a BU) headers that
//! precede the upper layer. IPv4: ESP follows the IPv4 header and its options.

use super::EspError;

pub(crate) const PROTO_HOPOPT: u8 = 0;
pub(crate) const PROTO_IPV4: u8 = 4;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_IPV6: u8 = 41;
pub(crate) const PROTO_ROUTING: u8 = 43;
pub(crate) const PROTO_ESP: u8 = 50;
pub(crate) const PROTO_NONE: u8 = 59;
pub(crate) const PROTO_DSTOPTS: u8 = 60;
pub(crate) const PROTO_MH: u8 = 135;

pub(crate) const IPV6_HDR: usize = 40;
pub(crate) const IPV4_MIN_HDR: usize = 20;
pub(crate) const UDP_HDR: usize = 8;

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpVersion {
    V4,
    V6,
}

/// Where the upper layer starts in a packet: `offset` of the first octet after the headers
/// that stay in front of ESP, `nh_at` the index of the Next Header / Protocol octet that names
/// what is at `offset`, and `nh` its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split {
    pub version: IpVersion,
    pub offset: usize,
    pub nh_at: usize,
    pub nh: u8,
}

/// Validate the IP header(s) of `pkt` and find the transport-mode split point.
pub(crate) fn split(pkt: &[u8]) -> Result<Split, EspError> {
    let first = *pkt.first().ok_or(EspError::Truncated)?;
    match first >> 4 {
        6 => split_v6(pkt),
        4 => split_v4(pkt),
        _ => Err(EspError::Malformed("IP version")),
    }
}

fn split_v6(pkt: &[u8]) -> Result<Split, EspError> {
    if pkt.len() < IPV6_HDR {
        return Err(EspError::Truncated);
    }
    let plen = usize::from(u16::from_be_bytes([pkt[4], pkt[5]]));
    if plen == 0 {
        return Err(EspError::Malformed("IPv6 payload length 0 (jumbogram)"));
    }
    match (IPV6_HDR + plen).cmp(&pkt.len()) {
        core::cmp::Ordering::Greater => return Err(EspError::Truncated),
        core::cmp::Ordering::Less => {
            return Err(EspError::Malformed("trailing octets after IPv6 payload"))
        }
        core::cmp::Ordering::Equal => {}
    }
    let mut nh_at = 6;
    let mut offset = IPV6_HDR;
    loop {
        let nh = pkt[nh_at];
        match nh {
            PROTO_HOPOPT | PROTO_ROUTING | PROTO_DSTOPTS => {
                if nh == PROTO_HOPOPT && offset != IPV6_HDR {
                    return Err(EspError::Malformed("Hop-by-Hop header not first"));
                }
                let len_octet = *pkt.get(offset + 1).ok_or(EspError::Truncated)?;
                let len = (usize::from(len_octet) + 1) * 8;
                if offset + len > pkt.len() {
                    return Err(EspError::Truncated);
                }
                nh_at = offset;
                offset += len;
            }
            _ => {
                return Ok(Split {
                    version: IpVersion::V6,
                    offset,
                    nh_at,
                    nh,
                })
            }
        }
    }
}

fn split_v4(pkt: &[u8]) -> Result<Split, EspError> {
    if pkt.len() < IPV4_MIN_HDR {
        return Err(EspError::Truncated);
    }
    let ihl = usize::from(pkt[0] & 0x0f) * 4;
    if ihl < IPV4_MIN_HDR {
        return Err(EspError::Malformed("IPv4 IHL"));
    }
    let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
    if total < ihl {
        return Err(EspError::Malformed("IPv4 total length"));
    }
    match total.cmp(&pkt.len()) {
        core::cmp::Ordering::Greater => return Err(EspError::Truncated),
        core::cmp::Ordering::Less => {
            return Err(EspError::Malformed("trailing octets after IPv4 packet"))
        }
        core::cmp::Ordering::Equal => {}
    }
    if u16::from_be_bytes([pkt[6], pkt[7]]) & 0x3fff != 0 {
        return Err(EspError::Malformed("IPv4 fragment"));
    }
    Ok(Split {
        version: IpVersion::V4,
        offset: ihl,
        nh_at: 9,
        nh: pkt[9],
    })
}

/// Check that `pkt` is one whole IPv6 or IPv4 packet (version, header and total lengths);
/// unlike [`split`] it accepts IPv4 fragments and does not walk extension headers.
pub(crate) fn validate(pkt: &[u8]) -> Result<IpVersion, EspError> {
    let first = *pkt.first().ok_or(EspError::Truncated)?;
    let (hdr, total) = match first >> 4 {
        6 => (
            IPV6_HDR,
            pkt.get(4..6)
                .map(|b| IPV6_HDR + usize::from(u16::from_be_bytes([b[0], b[1]]))),
        ),
        4 => (
            IPV4_MIN_HDR,
            pkt.get(2..4)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))),
        ),
        _ => return Err(EspError::Malformed("IP version")),
    };
    if pkt.len() < hdr {
        return Err(EspError::Truncated);
    }
    let total = total.ok_or(EspError::Truncated)?;
    if first >> 4 == 4
        && (usize::from(first & 0x0f) * 4 < IPV4_MIN_HDR || total < usize::from(first & 0x0f) * 4)
    {
        return Err(EspError::Malformed("IPv4 header length"));
    }
    match total.cmp(&pkt.len()) {
        core::cmp::Ordering::Greater => Err(EspError::Truncated),
        core::cmp::Ordering::Less => Err(EspError::Malformed("trailing octets after IP packet")),
        core::cmp::Ordering::Equal => Ok(if first >> 4 == 6 {
            IpVersion::V6
        } else {
            IpVersion::V4
        }),
    }
}

/// Set the length field(s) of the IP header at the start of `pkt` for a packet of
/// `pkt.len()` octets, and refresh the IPv4 header checksum.
pub(crate) fn fix_lengths(pkt: &mut [u8], version: IpVersion) -> Result<(), EspError> {
    match version {
        IpVersion::V6 => {
            let plen = u16::try_from(pkt.len() - IPV6_HDR).map_err(|_| EspError::TooBig)?;
            pkt[4..6].copy_from_slice(&plen.to_be_bytes());
        }
        IpVersion::V4 => {
            let total = u16::try_from(pkt.len()).map_err(|_| EspError::TooBig)?;
            pkt[2..4].copy_from_slice(&total.to_be_bytes());
            let ihl = usize::from(pkt[0] & 0x0f) * 4;
            pkt[10..12].copy_from_slice(&[0, 0]);
            let c = checksum_finish(checksum_add(0, &pkt[..ihl]));
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
    }
    Ok(())
}

/// One's-complement sum of `data` (RFC 1071) added to `acc`, not yet folded.
pub(crate) fn checksum_add(mut acc: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// Fold and complement an accumulated sum into the 16-bit checksum.
pub(crate) fn checksum_finish(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Write an IPv6 header (no extension headers) for a payload of `payload_len` octets.
pub(crate) fn write_ipv6(
    out: &mut [u8],
    src: &[u8; 16],
    dst: &[u8; 16],
    nh: u8,
    payload_len: usize,
) -> Result<(), EspError> {
    let plen = u16::try_from(payload_len).map_err(|_| EspError::TooBig)?;
    out[0] = 0x60;
    out[1..4].copy_from_slice(&[0, 0, 0]);
    out[4..6].copy_from_slice(&plen.to_be_bytes());
    out[6] = nh;
    out[7] = 64;
    out[8..24].copy_from_slice(src);
    out[24..40].copy_from_slice(dst);
    Ok(())
}

/// Write an IPv4 header (no options, DF clear) for a payload of `payload_len` octets.
pub(crate) fn write_ipv4(
    out: &mut [u8],
    src: &[u8; 4],
    dst: &[u8; 4],
    proto: u8,
    payload_len: usize,
    id: u16,
) -> Result<(), EspError> {
    let total = u16::try_from(payload_len + IPV4_MIN_HDR).map_err(|_| EspError::TooBig)?;
    out[0] = 0x45;
    out[1] = 0;
    out[2..4].copy_from_slice(&total.to_be_bytes());
    out[4..6].copy_from_slice(&id.to_be_bytes());
    out[6..8].copy_from_slice(&[0, 0]);
    out[8] = 64;
    out[9] = proto;
    out[10..12].copy_from_slice(&[0, 0]);
    out[12..16].copy_from_slice(src);
    out[16..20].copy_from_slice(dst);
    let c = checksum_finish(checksum_add(0, &out[..IPV4_MIN_HDR]));
    out[10..12].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// Source and destination addresses of the packet as slices (16 or 4 octets).
pub(crate) fn addresses(pkt: &[u8], version: IpVersion) -> (&[u8], &[u8]) {
    match version {
        IpVersion::V6 => (&pkt[8..24], &pkt[24..40]),
        IpVersion::V4 => (&pkt[12..16], &pkt[16..20]),
    }
}

/// Fill the UDP checksum of the datagram `udp` (header + payload) carried in `pkt`'s IP
/// header: mandatory over IPv6 (RFC 8200 §8.1), sent as zero over IPv4 (RFC 3948 §2.1).
pub(crate) fn fill_udp_checksum(ip_src: &[u8], ip_dst: &[u8], udp: &mut [u8], version: IpVersion) {
    udp[6..8].copy_from_slice(&[0, 0]);
    if version == IpVersion::V4 {
        return;
    }
    let mut acc = checksum_add(0, ip_src);
    acc = checksum_add(acc, ip_dst);
    acc += udp.len() as u64;
    acc += u64::from(PROTO_UDP);
    acc = checksum_add(acc, udp);
    let mut c = checksum_finish(acc);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod test {
    use super::*;

    // test-vectors.md §6, packet E1: IPv6 | DestOpt(PadN, HAO) | MH
    const E1: &str = "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000000000000100031020010db8000200000000000000000100";
    // packet E2: IPv6 | RH2 | MH
    const E2: &str = "6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080c000020a01020000";

    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn split_after_hao_and_rh2() {
        let e1 = hex(E1);
        let s = split(&e1).unwrap();
        assert_eq!(
            (s.offset, s.nh_at, s.nh, s.version),
            (64, 40, PROTO_MH, IpVersion::V6)
        );
        let e2 = hex(E2);
        let s = split(&e2).unwrap();
        assert_eq!((s.offset, s.nh_at, s.nh), (64, 40, PROTO_MH));
    }

    #[test]
    fn every_prefix_is_truncated_never_panics() {
        let e1 = hex(E1);
        for n in 0..e1.len() {
            let r = split(&e1[..n]);
            assert!(r.is_err(), "{n}");
        }
        let mut longer = e1.clone();
        longer.push(0);
        assert_eq!(
            split(&longer),
            Err(EspError::Malformed("trailing octets after IPv6 payload"))
        );
    }

    #[test]
    fn ipv4_header_checksum() {
        // test-vectors.md §6 packet E3: IPv4 header checksum 0x144d.
        let e3 = hex("45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db800010000000000000000100020010db80001000000000000000000013b030500d2040002d40003841d068000c000020a20060000c633640701020000");
        let s = split(&e3).unwrap();
        assert_eq!((s.offset, s.nh), (20, PROTO_UDP));
        let mut copy = e3.clone();
        copy[10] = 0;
        copy[11] = 0;
        fix_lengths(&mut copy, IpVersion::V4).unwrap();
        assert_eq!(copy, e3);
    }
}
