//! Security Association Database (keyed by SPI + destination, RFC 4301 §4.4.2) and a small
//! Security Policy Database (RFC 4301 §4.4.1) whose selectors understand the Mobility Header
//! type carried in the high octet of the local "port" selector (RFC 4301 §4.4.1.1; spec
//! pitfall 8), so BU/BA/BRI/BRA/HA-Switch all select the one signalling SA.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ip::{self, IpVersion};
use super::{EspError, Sa};

/// The SAD: SAs by `(SPI, destination)`; an SA stored with no destination matches any.
#[derive(Debug, Default)]
pub struct Sad {
    sas: HashMap<(u32, Option<IpAddr>), Sa>,
}

impl Sad {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an SA. Returns false (and leaves the SAD unchanged) if the key is taken.
    pub fn insert(&mut self, dst: Option<IpAddr>, sa: Sa) -> bool {
        let key = (sa.spi(), dst);
        if self.sas.contains_key(&key) {
            return false;
        }
        self.sas.insert(key, sa);
        true
    }

    pub fn remove(&mut self, spi: u32, dst: Option<IpAddr>) -> Option<Sa> {
        self.sas.remove(&(spi, dst))
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// The SA for `spi` and `dst`: the exact `(spi, dst)` entry, else a wildcard one.
    pub fn get_mut(&mut self, spi: u32, dst: Option<IpAddr>) -> Option<&mut Sa> {
        if dst.is_some() && self.sas.contains_key(&(spi, dst)) {
            return self.sas.get_mut(&(spi, dst));
        }
        self.sas.get_mut(&(spi, None))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(u32, Option<IpAddr>), &Sa)> {
        self.sas.iter()
    }

    /// Inbound processing: find the SA by the packet's SPI and destination, then
    /// [`Sa::decrypt_into`]. Returns `(spi, length)`.
    ///
    /// # Errors
    /// `UnknownSpi` when no SA matches, else whatever the SA reports.
    pub fn decrypt_into(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<(u32, usize), EspError> {
        let split = ip::split(packet)?;
        let esp_off = match split.nh {
            ip::PROTO_ESP => split.offset,
            ip::PROTO_UDP => split.offset + ip::UDP_HDR,
            _ => return Err(EspError::NotEsp),
        };
        let spi_bytes = packet
            .get(esp_off..esp_off + 4)
            .ok_or(EspError::Truncated)?;
        let spi = u32::from_be_bytes([spi_bytes[0], spi_bytes[1], spi_bytes[2], spi_bytes[3]]);
        // The destination that keys the SA: the HoA of a Type 2 RH when present (RFC 4877).
        let (_, dst) = mobile_addresses(packet, &split);
        let sa = self
            .get_mut(spi, Some(dst))
            .ok_or(EspError::UnknownSpi(spi))?;
        sa.decrypt_into(packet, out).map(|n| (spi, n))
    }
}

fn addr_from(b: &[u8]) -> IpAddr {
    match b.len() {
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[..4]);
            IpAddr::V4(Ipv4Addr::from(a))
        }
    }
}

/// The selector values of one outbound packet. For a Mobility Header the MH type sits in the
/// high octet of `local_port` (RFC 4301 §4.4.1.1); for ICMPv6 the type and code do.
/// `local` is the home address when a Home Address option is present (RFC 4877 §4.1: the SAs
/// are keyed on the HoA), `remote` the Type 2 RH address when one is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSelectors {
    pub local: IpAddr,
    pub remote: IpAddr,
    pub protocol: u8,
    pub local_port: u16,
    pub remote_port: u16,
}

const HAO_OPTION: u8 = 201;

/// The packet's source and destination as RFC 4877 keys the SAs: the Home Address option's
/// address replaces the source, a Type 2 Routing header's address the destination.
fn mobile_addresses(packet: &[u8], split: &ip::Split) -> (IpAddr, IpAddr) {
    let (src, dst) = ip::addresses(packet, split.version);
    let mut local = addr_from(src);
    let mut remote = addr_from(dst);
    if split.version == IpVersion::V6 {
        // Walk the headers in front of the upper layer again (split checked their bounds).
        let mut nh = packet[6];
        let mut off = ip::IPV6_HDR;
        while off < split.offset {
            let len = (usize::from(packet[off + 1]) + 1) * 8;
            let hdr = &packet[off..off + len];
            if nh == ip::PROTO_DSTOPTS {
                let mut i = 2;
                while i < hdr.len() {
                    let t = hdr[i];
                    if t == 0 {
                        i += 1;
                        continue;
                    }
                    let Some(&olen) = hdr.get(i + 1) else { break };
                    let olen = usize::from(olen);
                    if t == HAO_OPTION && olen == 16 && i + 18 <= hdr.len() {
                        local = addr_from(&hdr[i + 2..i + 18]);
                    }
                    i += 2 + olen;
                }
            } else if nh == ip::PROTO_ROUTING && hdr.len() >= 24 && hdr[2] == 2 {
                remote = addr_from(&hdr[8..24]);
            }
            nh = hdr[0];
            off += len;
        }
    }
    (local, remote)
}
const PROTO_TCP: u8 = 6;
const PROTO_SCTP: u8 = 132;
const PROTO_UDPLITE: u8 = 136;
const PROTO_ICMPV6: u8 = 58;

impl PacketSelectors {
    /// Extract the selectors of an outbound IP packet.
    ///
    /// # Errors
    /// `Truncated`/`Malformed` for an invalid packet.
    pub fn from_packet(packet: &[u8]) -> Result<Self, EspError> {
        let split = ip::split(packet)?;
        let (local, remote) = mobile_addresses(packet, &split);
        let upper = &packet[split.offset..];
        let (local_port, remote_port) = match split.nh {
            PROTO_TCP | ip::PROTO_UDP | PROTO_SCTP | PROTO_UDPLITE => match upper.get(..4) {
                Some(p) => (
                    u16::from_be_bytes([p[0], p[1]]),
                    u16::from_be_bytes([p[2], p[3]]),
                ),
                None => return Err(EspError::Truncated),
            },
            ip::PROTO_MH => (u16::from(*upper.get(2).ok_or(EspError::Truncated)?) << 8, 0),
            PROTO_ICMPV6 => match upper.get(..2) {
                Some(p) => (u16::from_be_bytes([p[0], p[1]]), 0),
                None => return Err(EspError::Truncated),
            },
            _ => (0, 0),
        };
        Ok(Self {
            local,
            remote,
            protocol: split.nh,
            local_port,
            remote_port,
        })
    }
}

/// One SPD selector: address prefixes, protocol (None = any) and inclusive port ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    pub local: (IpAddr, u8),
    pub remote: (IpAddr, u8),
    pub protocol: Option<u8>,
    pub local_ports: (u16, u16),
    pub remote_ports: (u16, u16),
}

impl Selector {
    /// The selector admitting one Mobility Header type between two addresses: local "port"
    /// range `type << 8 ..= type << 8 | 0xff` (RFC 4301 §4.4.1.1).
    #[must_use]
    pub fn mobility(local: IpAddr, remote: IpAddr, mh_type: u8) -> Self {
        let host = |a: IpAddr| (a, if a.is_ipv6() { 128 } else { 32 });
        let base = u16::from(mh_type) << 8;
        Self {
            local: host(local),
            remote: host(remote),
            protocol: Some(ip::PROTO_MH),
            local_ports: (base, base | 0xff),
            remote_ports: (0, 0xffff),
        }
    }

    #[must_use]
    pub fn matches(&self, p: &PacketSelectors) -> bool {
        prefix_contains(self.local, p.local)
            && prefix_contains(self.remote, p.remote)
            && self.protocol.is_none_or(|proto| proto == p.protocol)
            && (self.local_ports.0..=self.local_ports.1).contains(&p.local_port)
            && (self.remote_ports.0..=self.remote_ports.1).contains(&p.remote_port)
    }
}

fn prefix_contains((net, len): (IpAddr, u8), a: IpAddr) -> bool {
    match (net, a) {
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(n) & mask == u32::from(a) & mask
        }
        _ => false,
    }
}

/// What the SPD decides for a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpdAction {
    /// Protect with the outbound SA of this SPI.
    Protect(u32),
    Bypass,
    Discard,
}

/// An ordered SPD: the first matching entry decides; no match means `Discard`.
#[derive(Debug, Default, Clone)]
pub struct Spd {
    entries: Vec<(Selector, SpdAction)>,
}

impl Spd {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, selector: Selector, action: SpdAction) {
        self.entries.push((selector, action));
    }

    /// Remove every entry protecting with `spi`.
    pub fn remove_spi(&mut self, spi: u32) {
        self.entries.retain(|(_, a)| *a != SpdAction::Protect(spi));
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    #[must_use]
    pub fn lookup(&self, p: &PacketSelectors) -> SpdAction {
        self.entries
            .iter()
            .find(|(s, _)| s.matches(p))
            .map_or(SpdAction::Discard, |(_, a)| *a)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    // test-vectors.md §6 E1 (BU with HAO) and E2 (BA with RH2).
    const E1: &str = "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000000000000100031020010db8000200000000000000000100";
    const E2: &str = "6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080c000020a01020000";

    #[test]
    fn mh_type_rides_in_the_port_high_octet() {
        let hoa: IpAddr = "2001:db8:1::1000".parse().unwrap();
        let ha: IpAddr = "2001:db8:1::1".parse().unwrap();
        let bu = PacketSelectors::from_packet(&hex(E1)).unwrap();
        assert_eq!(bu.local, hoa, "HAO address is the local selector");
        assert_eq!(bu.remote, ha);
        assert_eq!((bu.protocol, bu.local_port), (135, 5 << 8));
        let ba = PacketSelectors::from_packet(&hex(E2)).unwrap();
        assert_eq!(ba.remote, hoa, "RH2 address is the remote selector");
        assert_eq!(ba.local_port, 6 << 8);

        let mut ue = Spd::new();
        for t in [5u8, 16 + 1] {
            ue.push(Selector::mobility(hoa, ha, t), SpdAction::Protect(0x1001));
        }
        assert_eq!(ue.lookup(&bu), SpdAction::Protect(0x1001));
        let mut other = bu;
        other.local_port = 1 << 8; // HoTI: not on this SA
        assert_eq!(ue.lookup(&other), SpdAction::Discard);
        let mut ha_spd = Spd::new();
        ha_spd.push(Selector::mobility(ha, hoa, 6), SpdAction::Protect(0x2002));
        assert_eq!(ha_spd.lookup(&ba), SpdAction::Protect(0x2002));
        ha_spd.remove_spi(0x2002);
        assert!(ha_spd.is_empty());
    }

    #[test]
    fn prefixes() {
        let n: IpAddr = "2001:db8:1::".parse().unwrap();
        assert!(prefix_contains((n, 64), "2001:db8:1::55".parse().unwrap()));
        assert!(!prefix_contains((n, 64), "2001:db8:2::55".parse().unwrap()));
        assert!(prefix_contains((n, 0), "::1".parse().unwrap()));
        assert!(!prefix_contains((n, 0), "10.0.0.1".parse().unwrap()));
    }
}
