//! `dsmip6._core.mhfast`: the Home Agent's Binding Update fast path (issue 5, per-refresh
//! cost). Two functions over `dsmip6-wire`, with addresses as integers instead of the text
//! and layer objects of `dsmip6._core.wire`:
//!
//! * `open_bu(packet)` validates a decrypted signalling packet exactly as `wire.parse` does
//!   (the same `parse_packet_with`, the same exceptions) and, when its Mobility Header is a
//!   Binding Update, returns the fields the HA's ordered checks read as one flat tuple;
//!   anything else gives `None` and the caller takes the general layer path;
//! * `ba_packet(...)` builds a Binding Acknowledgement packet (IPv6 header, optional Type 2
//!   Routing header, MH with its options) through the codec's own emitter, the same octets
//!   `wire.build` gives for the equal layer objects;
//! * `child_record(c, alg, ts_i, ts_r)` writes the record of one parked child SA (the layout of
//!   `dsmip6.ikev2.sa._child_record`) from the `ChildSa`'s attributes;
//! * `ntop6(octets)` / `canonical6(host)`: glibc's `inet_ntop` text of an IPv6 address
//!   (the BA's datagram address, the parked IKE SA's endpoint test) written here;
//! * `esp_spi(packet)`: the SPI of a signalling packet's ESP header (`dsmip6._mh.esp_spi`'s
//!   walk over the IPv6 extension headers);
//! * `MhSaPair`: the two ESP transport SAs of one UE's Mobility Header signalling (RFC 4877
//!   §4.4) in one object, both compact (`dsmip6._core.esp.SecurityAssociation(...,
//!   compact=True)`: the AEAD key kept raw, expanded per packet): the HA holds one per
//!   registered UE, so one object header and no scratch buffers instead of two SA objects and
//!   their Python wrappers. The inbound SA keeps the 1024-packet replay window and no
//!   counters, the outbound one only its sequence counter (`RxOnly` / `TxOnly` states of
//!   `dsmip6-dataplane`'s `SaCore`).
//!
//! * `RateTable`: the HA's per-UE budget (issue 5; `dsmip6.ha.HomeAgent._admit`): a fixed
//!   table of token buckets keyed by our SPIs, charged once per received ESP packet and once
//!   per IKE request of an established SA (`admit_ike` reads the SPI from the IKE header,
//!   RFC 7296 §3.1) before any decryption. Plain `f64` arithmetic, the same operations in the
//!   same order as the Python it replaces (no crypto here).

use crate::errors::{esp_error, truncated, WireError};
use crate::esp::build_sa;
use dsmip6_dataplane::esp::{RxOnly, SaCore, SaState, TxOnly, MAX_OVERHEAD};
use dsmip6_wire::mhopt::MobilityOptionRepr as MOpt;
use dsmip6_wire::packet::LaidOut;
use dsmip6_wire::{
    parse_packet_with, IpProtocol, Ipv6OptionRepr, Ipv6Repr, Layer, MhMessage, MobilityOptions,
    MobilityRepr, RoutingHeader2Repr,
};
use pyo3::exceptions::{PyIndexError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::net::{Ipv4Addr, Ipv6Addr};

/// `(ipv6_source, hao, sequence, lifetime_4s, flags, alternate_coa, ipv4_hoa,
/// ipv4_hoa_prefix_len, ipv4_coa)`: addresses as ints (None when absent), `flags` the whole BU
/// flags word (RFC 6275 §6.1.7).
type BuFields = (
    u128,
    Option<u128>,
    u16,
    u16,
    u16,
    Option<u128>,
    Option<u32>,
    u8,
    Option<u32>,
);

/// What the layer walk in front of the Mobility Header found (as `WireSignalling.open` reads
/// the parsed layers: the last IPv6 header, the last Home Address option, an ESP layer).
#[derive(Default)]
struct Walk<'a> {
    ip6_src: Option<Ipv6Addr>,
    hao: Option<Ipv6Addr>,
    nested_esp: bool,
    mh: Option<MobilityRepr<'a>>,
}

/// Validate `packet` (a whole IPv6 packet, ESP already removed) and read its BU.
///
/// Raises `MalformedPacket` / `BadChecksum` exactly as `dsmip6._core.wire.parse`. Returns None
/// when the packet is valid but is not a BU the direct path takes (another MH message, an ESP
/// layer before the MH, no MH or no IPv6 header before it): the caller then walks the layers
/// of `wire.parse` and meets the same outcome there.
#[pyfunction]
fn open_bu(packet: &Bound<'_, PyBytes>) -> PyResult<Option<BuFields>> {
    let mut w = Walk::default();
    parse_packet_with(packet.as_bytes(), |layer, _| {
        if w.mh.is_some() || w.nested_esp {
            return Ok(()); // the walk stops at the MH (or at nested ESP, an error there)
        }
        match layer {
            Layer::Ipv6(r) => w.ip6_src = Some(r.src_addr),
            Layer::DestOpts(d) => {
                for o in d.options() {
                    if let Ipv6OptionRepr::HomeAddress(a) = o {
                        w.hao = Some(a);
                    }
                }
            }
            Layer::Esp(_) => w.nested_esp = true,
            Layer::Mobility(m) => w.mh = Some(m),
            _ => {}
        }
        Ok(())
    })
    .map_err(WireError)?;
    let (Some(src), Some(mh), false) = (w.ip6_src, w.mh, w.nested_esp) else {
        return Ok(None);
    };
    let MhMessage::BindingUpdate {
        sequence,
        flags,
        lifetime_4s,
    } = mh.message
    else {
        return Ok(None);
    };
    // Last Alternate-CoA and IPv4 CoA, first IPv4 HoA (as WireSignalling.received reads them).
    let (mut alt, mut v4hoa, mut v4plen, mut v4coa) = (None, None, 32u8, None);
    for o in mh.options.iter() {
        match o {
            MOpt::AlternateCareOfAddress(a) => alt = Some(u128::from(a)),
            MOpt::Ipv4HomeAddress {
                prefix_len,
                address,
                ..
            } if v4hoa.is_none() => {
                v4hoa = Some(u32::from(address));
                v4plen = prefix_len;
            }
            MOpt::Ipv4CareOfAddress(a) => v4coa = Some(u32::from(a)),
            _ => {}
        }
    }
    Ok(Some((
        u128::from(src),
        w.hao.map(u128::from),
        sequence,
        lifetime_4s,
        flags,
        alt,
        v4hoa,
        v4plen,
        v4coa,
    )))
}

/// A Binding Acknowledgement packet `src` -> `dst` (ints), with a Type 2 Routing header to
/// `rh2` when given (RFC 6275 §6.1.8, §6.4), options in the order Binding Refresh Advice,
/// IPv4 Address Acknowledgement `(status, prefix_len, address)`, NAT Detection
/// `(f, refresh_time)` (RFC 5555 §3.2). Hop limit 64, traffic class and flow label 0 (the
/// `wire.Ipv6Header` defaults).
#[pyfunction]
#[pyo3(signature = (src, dst, rh2, status, sequence, lifetime_4s, k, r, refresh_advice_4s, ipv4_ack, nat))]
#[allow(clippy::too_many_arguments)]
fn ba_packet<'py>(
    py: Python<'py>,
    src: u128,
    dst: u128,
    rh2: Option<u128>,
    status: u8,
    sequence: u16,
    lifetime_4s: u16,
    k: bool,
    r: bool,
    refresh_advice_4s: Option<u16>,
    ipv4_ack: Option<(u8, u8, u32)>,
    nat: Option<(bool, u32)>,
) -> PyResult<Bound<'py, PyBytes>> {
    use dsmip6_wire::mh::ba_flags;
    let mut opts: [MOpt<'_>; 3] = [MOpt::Pad1, MOpt::Pad1, MOpt::Pad1];
    let mut n = 0;
    if let Some(refresh_interval_4s) = refresh_advice_4s {
        opts[n] = MOpt::BindingRefreshAdvice {
            refresh_interval_4s,
        };
        n += 1;
    }
    if let Some((status, prefix_len, address)) = ipv4_ack {
        if prefix_len > 32 {
            return Err(PyValueError::new_err("prefix_len must be 0..32"));
        }
        opts[n] = MOpt::Ipv4AddressAcknowledgement {
            status,
            prefix_len,
            address: Ipv4Addr::from(address),
        };
        n += 1;
    }
    if let Some((f, refresh_time)) = nat {
        opts[n] = MOpt::NatDetection { f, refresh_time };
        n += 1;
    }
    let flags = if k { ba_flags::K } else { 0 } | if r { ba_flags::R } else { 0 };
    let mh = Layer::Mobility(MobilityRepr {
        message: MhMessage::BindingAcknowledgement {
            status,
            flags,
            sequence,
            lifetime_4s,
        },
        options: MobilityOptions::List(&opts[..n]),
    });
    let ip6 = |next_header| {
        Layer::Ipv6(Ipv6Repr {
            src_addr: Ipv6Addr::from(src),
            dst_addr: Ipv6Addr::from(dst),
            next_header,
            payload_len: 0,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        })
    };
    let with_rh2;
    let without;
    let layers: &[Layer<'_>] = match rh2 {
        Some(home) => {
            with_rh2 = [
                ip6(IpProtocol::Ipv6Route),
                Layer::Routing2(RoutingHeader2Repr {
                    next_header: IpProtocol::Mobility,
                    home_address: Ipv6Addr::from(home),
                }),
                mh,
            ];
            &with_rh2
        }
        None => {
            without = [ip6(IpProtocol::Mobility), mh];
            &without
        }
    };
    let laid = LaidOut::new(layers).ok_or_else(|| PyValueError::new_err("too many layers"))?;
    crate::wire::emit_bytes(py, &laid)
}

/// `SaCore::encrypt_into` or `SaCore::decrypt_into`.
type PacketOp<S> =
    fn(&mut SaCore<S>, &[u8], &mut [u8]) -> Result<usize, dsmip6_dataplane::esp::EspError>;

/// Run one packet through `op` into a buffer `growth` octets longer than it.
fn run<'py, S: SaState>(
    py: Python<'py>,
    sa: &mut SaCore<S>,
    packet: &[u8],
    growth: usize,
    op: PacketOp<S>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut buf = vec![0u8; packet.len() + growth];
    let n = op(sa, packet, &mut buf).map_err(esp_error)?;
    Ok(PyBytes::new(py, buf.get(..n).unwrap_or_default()))
}

/// The inbound and outbound ESP SAs of one UE's MH signalling, compact (see the module
/// documentation). `spi` is the inbound SPI (what a received packet names), `spi_out` the
/// outbound one; `unprotect` / `protect` are those of `dsmip6._sec.EspSa`.
#[pyclass(module = "dsmip6._core.mhfast", name = "MhSaPair")]
pub struct MhSaPair {
    /// Inbound: the full 1024-packet anti-replay window (RFC 4303 §3.4.3), no counters.
    rx: SaCore<RxOnly>,
    /// Outbound: the sequence counter only (a sender keeps no window, RFC 4303 §3.3.3).
    tx: SaCore<TxOnly>,
}

#[pymethods]
impl MhSaPair {
    #[new]
    #[pyo3(signature = (mode, algorithm, esn, spi_in, key_in, integrity_key_in, spi_out, key_out, integrity_key_out))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        mode: &str,
        algorithm: &str,
        esn: bool,
        spi_in: u32,
        key_in: &[u8],
        integrity_key_in: Option<&[u8]>,
        spi_out: u32,
        key_out: &[u8],
        integrity_key_out: Option<&[u8]>,
    ) -> PyResult<Self> {
        fn sa<S: SaState>(
            mode: &str,
            algorithm: &str,
            esn: bool,
            spi: u32,
            key: &[u8],
            integrity_key: Option<&[u8]>,
        ) -> PyResult<SaCore<S>> {
            build_sa(
                spi,
                mode,
                algorithm,
                key,
                integrity_key,
                esn,
                None,
                None,
                None,
                true,
            )
        }
        Ok(Self {
            rx: sa(mode, algorithm, esn, spi_in, key_in, integrity_key_in)?,
            tx: sa(mode, algorithm, esn, spi_out, key_out, integrity_key_out)?,
        })
    }

    /// The inbound SPI.
    #[getter]
    fn spi(&self) -> u32 {
        self.rx.spi()
    }

    /// The outbound SPI.
    #[getter]
    fn spi_out(&self) -> u32 {
        self.tx.spi()
    }

    /// Check and remove ESP with the inbound SA (replay window, ICV; RFC 4303 §3.4): the
    /// packet without ESP. Raises the `dsmip6.errors` ESP exceptions.
    fn unprotect<'py>(&mut self, py: Python<'py>, packet: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        run(py, &mut self.rx, packet, 0, SaCore::decrypt_into)
    }

    /// ESP transport mode with the outbound SA (RFC 4303 §3.1.1).
    fn protect<'py>(&mut self, py: Python<'py>, packet: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        run(py, &mut self.tx, packet, MAX_OVERHEAD, SaCore::encrypt_into)
    }

    fn __repr__(&self) -> String {
        format!(
            "MhSaPair(spi={:#010x}, spi_out={:#010x})",
            self.rx.spi(),
            self.tx.spi()
        )
    }
}

/// The HA's per-UE budget: `slots` (0, or a power of two from 2) token buckets, `burst` deep,
/// refilled at `rate` tokens per second of the caller's clock. A key (one of our SPIs: ESP's
/// 32-bit, IKE's 64-bit, random values the UE does not choose) owns two slots taken from
/// different bits, is admitted while either has a token, and spends one from each that has.
#[pyclass(module = "dsmip6._core.mhfast", name = "RateTable")]
pub struct RateTable {
    tokens: Vec<f64>,
    last: Vec<f64>,
    mask: u64,
    rate: f64,
    burst: f64,
}

impl RateTable {
    /// One bucket brought up to `now` (refilled, at most to the burst; `last` moves only
    /// forward), its tokens returned; `tokens[s]` itself is written by the caller.
    fn refill(&mut self, s: usize, now: f64) -> f64 {
        let mut t = self.tokens[s];
        let elapsed = now - self.last[s];
        if elapsed > 0.0 {
            t += elapsed * self.rate;
            if self.burst < t {
                t = self.burst;
            }
            self.last[s] = now;
        }
        t
    }
}

#[pymethods]
impl RateTable {
    #[new]
    fn new(slots: usize, rate: f64, burst: f64) -> PyResult<Self> {
        if slots == 1 || (slots != 0 && !slots.is_power_of_two()) {
            return Err(PyValueError::new_err(
                "RateTable: slots must be 0 or a power of two from 2",
            ));
        }
        Ok(Self {
            tokens: vec![burst; slots],
            last: vec![0.0; slots],
            mask: (slots as u64).wrapping_sub(1),
            rate,
            burst,
        })
    }

    /// Charge `key` at `now`: True when admitted (a token spent from each of its slots that
    /// has one), False when both are empty (their refill is kept). An empty table raises
    /// `IndexError` (nothing to charge: the HA does not call it then).
    fn admit(&mut self, key: u64, now: f64) -> PyResult<bool> {
        if self.tokens.is_empty() {
            return Err(PyIndexError::new_err("RateTable has no slots"));
        }
        let s1 = (key & self.mask) as usize; // bits 0-15 (at most 2^16 slots) ...
        let mut s2 = (((key >> 16) ^ (key >> 40)) & self.mask) as usize; // ... 16-31 ^ 40-55
        if s2 == s1 {
            s2 ^= 1;
        }
        let t1 = self.refill(s1, now);
        let t2 = self.refill(s2, now);
        if t1 < 1.0 && t2 < 1.0 {
            self.tokens[s1] = t1;
            self.tokens[s2] = t2;
            return Ok(false);
        }
        self.tokens[s1] = if t1 >= 1.0 { t1 - 1.0 } else { t1 };
        self.tokens[s2] = if t2 >= 1.0 { t2 - 1.0 } else { t2 };
        Ok(true)
    }

    /// The budget of the IKE SA a request (`data`, received on UDP `port`) names by our SPI
    /// (RFC 7296 §3.1: the responder's SPI when the original initiator sent it, else the
    /// initiator's): `admit` of that SPI for version 2.0 and an exchange of an established SA
    /// (IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL); True, charging nothing, for anything else
    /// (too short, no non-ESP marker on 4500 — RFC 3948 §2.2 —, IKE_SA_INIT, another
    /// version, a zero SPI: the IKE engine's to judge).
    fn admit_ike(&mut self, data: &[u8], port: u16, now: f64) -> PyResult<bool> {
        let off = if port == 4500 { 4 } else { 0 };
        if data.len() < off + 28 || (off != 0 && data[..4] != [0, 0, 0, 0]) {
            return Ok(true);
        }
        let h = &data[off..off + 28];
        if !(35..=37).contains(&h[18]) || h[17] != 0x20 {
            return Ok(true);
        }
        let spi = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[at..at + 8]);
            u64::from_be_bytes(b)
        };
        let ours = if h[19] & 0x08 != 0 { spi(8) } else { spi(0) };
        if ours == 0 {
            return Ok(true);
        }
        self.admit(ours, now)
    }

    /// The tokens of every slot (a copy, for tests and inspection).
    fn tokens(&self) -> Vec<f64> {
        self.tokens.clone()
    }

    /// The last refill time of every slot (a copy).
    fn last(&self) -> Vec<f64> {
        self.last.clone()
    }

    fn __len__(&self) -> usize {
        self.tokens.len()
    }
}

/// IPv6 extension headers `esp_spi` walks over to reach ESP (RFC 8200 §4): Hop-by-Hop,
/// Routing, Destination Options.
const EXT_HEADERS: [u8; 3] = [0, 43, 60];

/// `esp_spi(packet) -> int | None`: the SPI when the IPv6 header chain of `packet` reaches
/// ESP (next header 50) before anything else, else None; a chain that runs past the end
/// raises `MalformedPacket` with the message, offset and reason of `dsmip6._mh.esp_spi`
/// (the same walk, written here for the HA's per-BU path).
#[pyfunction]
fn esp_spi(packet: &[u8]) -> PyResult<Option<u32>> {
    let n = packet.len();
    if n < 40 {
        return Err(truncated("IPv6 header truncated", n));
    }
    let (mut nh, mut off) = (packet[6], 40usize);
    while EXT_HEADERS.contains(&nh) {
        if off + 2 > n {
            return Err(truncated("extension header truncated", off));
        }
        (nh, off) = (packet[off], off + (usize::from(packet[off + 1]) + 1) * 8);
    }
    if nh != 50 {
        return Ok(None);
    }
    if off + 8 > n {
        return Err(truncated("ESP header truncated", off));
    }
    Ok(Some(u32::from_be_bytes([
        packet[off],
        packet[off + 1],
        packet[off + 2],
        packet[off + 3],
    ])))
}

/// The octets of a key attribute of a child SA: `bytes`, or None (then absent: empty).
fn key_attr<'a>(v: &'a Bound<'_, PyAny>) -> PyResult<Option<&'a [u8]>> {
    if v.is_none() {
        return Ok(None);
    }
    Ok(Some(v.cast::<PyBytes>()?.as_bytes()))
}

/// One length octet of the record (`struct`'s `B`).
fn len8(b: &[u8]) -> PyResult<u8> {
    u8::try_from(b.len()).map_err(|_| PyValueError::new_err("key longer than 255 octets"))
}

/// `park`'s record of one parked child SA (`dsmip6.ikev2.sa._child_record`, the session-
/// parking layout written there): a 2-octet length, then `spi_in(4) spi_out(4) flags(1)
/// algorithm(1)`, the four key lengths (1 each), the UDP ports (2 each), the keys, and the
/// selector records `ts_i` / `ts_r` the caller packed. `c` is the `ChildSa`; `alg` the index
/// of its algorithm. Flags: tunnel 1, initiator 2, ESN 4, UDP 8, integrity key in 16 / out
/// 32. Any value `struct` would refuse (a key that is not `bytes`, a length over 255, an
/// SPI outside 32 bits, ports that are not two 16-bit ints) raises `TypeError`,
/// `ValueError` or `OverflowError`; the caller then writes the record in Python, which
/// raises what it always raised.
#[pyfunction]
fn child_record<'py>(
    py: Python<'py>,
    c: &Bound<'py, PyAny>,
    alg: u8,
    ts_i: &[u8],
    ts_r: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    use pyo3::intern;
    let spi_in: u32 = c.getattr(intern!(py, "spi_in"))?.extract()?;
    let spi_out: u32 = c.getattr(intern!(py, "spi_out"))?.extract()?;
    let key_in = c.getattr(intern!(py, "key_in"))?;
    let key_out = c.getattr(intern!(py, "key_out"))?;
    let ik_in = c.getattr(intern!(py, "integrity_key_in"))?;
    let ik_out = c.getattr(intern!(py, "integrity_key_out"))?;
    let udp = c.getattr(intern!(py, "udp_encap"))?;
    let key_in = key_in.cast::<PyBytes>()?.as_bytes();
    let key_out = key_out.cast::<PyBytes>()?.as_bytes();
    let ik_in = key_attr(&ik_in)?;
    let ik_out = key_attr(&ik_out)?;
    let mut flags: u8 = 0;
    if c.getattr(intern!(py, "mode"))?.eq(intern!(py, "tunnel"))? {
        flags |= 1;
    }
    if c.getattr(intern!(py, "initiator"))?.is_truthy()? {
        flags |= 2;
    }
    if c.getattr(intern!(py, "esn"))?.is_truthy()? {
        flags |= 4;
    }
    let (u0, u1): (u16, u16) = if udp.is_none() {
        (0, 0)
    } else {
        flags |= 8;
        udp.extract()?
    };
    if ik_in.is_some() {
        flags |= 16;
    }
    if ik_out.is_some() {
        flags |= 32;
    }
    let (ik_in, ik_out) = (ik_in.unwrap_or(b""), ik_out.unwrap_or(b""));
    let lens = [len8(key_in)?, len8(key_out)?, len8(ik_in)?, len8(ik_out)?];
    let body =
        18 + key_in.len() + key_out.len() + ik_in.len() + ik_out.len() + ts_i.len() + ts_r.len();
    let n = u16::try_from(body).map_err(|_| PyValueError::new_err("record too long"))?;
    PyBytes::new_with(py, 2 + body, |out| {
        out[0..2].copy_from_slice(&n.to_be_bytes());
        out[2..6].copy_from_slice(&spi_in.to_be_bytes());
        out[6..10].copy_from_slice(&spi_out.to_be_bytes());
        out[10] = flags;
        out[11] = alg;
        out[12..16].copy_from_slice(&lens);
        out[16..18].copy_from_slice(&u0.to_be_bytes());
        out[18..20].copy_from_slice(&u1.to_be_bytes());
        let mut o = 20;
        for part in [key_in, key_out, ik_in, ik_out, ts_i, ts_r] {
            out[o..o + part.len()].copy_from_slice(part);
            o += part.len();
        }
        Ok(())
    })
}

/// `inet_ntop(AF_INET6, ...)` of glibc (the BIND formatter) for the 16 octets `a`: the
/// longest run of at least two zero words (the first of equal ones) as "::", lower-case hex
/// without leading zeros (RFC 5952 §4), and the last 32 bits as a dotted quad after six zero
/// words or five and 0xffff (IPv4-compatible / IPv4-mapped, §5).
fn ntop6_text(a: &[u8; 16]) -> String {
    use std::fmt::Write;
    let mut w = [0u16; 8];
    for (i, word) in w.iter_mut().enumerate() {
        *word = u16::from_be_bytes([a[2 * i], a[2 * i + 1]]);
    }
    let (mut best, mut best_len) = (usize::MAX, 0usize);
    let (mut cur, mut cur_len) = (usize::MAX, 0usize);
    for (i, &word) in w.iter().enumerate() {
        if word == 0 {
            if cur == usize::MAX {
                cur = i;
                cur_len = 1;
            } else {
                cur_len += 1;
            }
        } else if cur != usize::MAX {
            if best == usize::MAX || cur_len > best_len {
                best = cur;
                best_len = cur_len;
            }
            cur = usize::MAX;
        }
    }
    if cur != usize::MAX && (best == usize::MAX || cur_len > best_len) {
        best = cur;
        best_len = cur_len;
    }
    if best != usize::MAX && best_len < 2 {
        best = usize::MAX;
    }
    let mut out = String::with_capacity(46);
    let mut i = 0;
    while i < 8 {
        if best != usize::MAX && i >= best && i < best + best_len {
            if i == best {
                out.push(':');
            }
            i += 1;
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        if i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff)) {
            let _ = write!(out, "{}.{}.{}.{}", a[12], a[13], a[14], a[15]);
            return out;
        }
        let _ = write!(out, "{:x}", w[i]);
        i += 1;
    }
    if best != usize::MAX && best + best_len == 8 {
        out.push(':');
    }
    out
}

/// `socket.inet_ntop(AF_INET6, octets)` (glibc's text) for 16 octets, without the C
/// library's per-word `sprintf`; `ValueError` for any other length (as `inet_ntop`).
#[pyfunction]
fn ntop6(octets: &[u8]) -> PyResult<String> {
    let a: &[u8; 16] = octets
        .try_into()
        .map_err(|_| PyValueError::new_err("invalid length of packed IP address string"))?;
    Ok(ntop6_text(a))
}

/// The 16 octets of `host` when it is IPv6 text that `inet_ntop(AF_INET6, inet_pton(AF_INET6,
/// host))` gives back unchanged (the parked SA's endpoint test, `ikev2.sa._packed_endpoint`),
/// else None — also for text this parser does not read (the caller then asks the C library:
/// None never decides "not canonical" by itself).
#[pyfunction]
fn canonical6<'py>(py: Python<'py>, host: &str) -> Option<Bound<'py, PyBytes>> {
    let addr: Ipv6Addr = host.parse().ok()?;
    let a = addr.octets();
    if ntop6_text(&a) != host {
        return None;
    }
    Some(PyBytes::new(py, &a))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MhSaPair>()?;
    m.add_class::<RateTable>()?;
    m.add_function(wrap_pyfunction!(child_record, m)?)?;
    m.add_function(wrap_pyfunction!(open_bu, m)?)?;
    m.add_function(wrap_pyfunction!(ba_packet, m)?)?;
    m.add_function(wrap_pyfunction!(ntop6, m)?)?;
    m.add_function(wrap_pyfunction!(canonical6, m)?)?;
    m.add_function(wrap_pyfunction!(esp_spi, m)?)?;
    Ok(())
}
