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
//! * `MhSaPair`: the two ESP transport SAs of one UE's Mobility Header signalling (RFC 4877
//!   §4.4) in one object, both compact (`dsmip6._core.esp.SecurityAssociation(...,
//!   compact=True)`: the AEAD key kept raw, expanded per packet): the HA holds one per
//!   registered UE, so one object header and no scratch buffers instead of two SA objects and
//!   their Python wrappers. The inbound SA keeps the 1024-packet replay window and no
//!   counters, the outbound one only its sequence counter (`RxOnly` / `TxOnly` states of
//!   `dsmip6-dataplane`'s `SaCore`).

use crate::errors::{esp_error, WireError};
use crate::esp::build_sa;
use dsmip6_dataplane::esp::{RxOnly, SaCore, SaState, TxOnly, MAX_OVERHEAD};
use dsmip6_wire::mhopt::MobilityOptionRepr as MOpt;
use dsmip6_wire::packet::LaidOut;
use dsmip6_wire::{
    parse_packet_with, IpProtocol, Ipv6OptionRepr, Ipv6Repr, Layer, MhMessage, MobilityOptions,
    MobilityRepr, RoutingHeader2Repr,
};
use pyo3::exceptions::PyValueError;
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

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<MhSaPair>()?;
    m.add_function(wrap_pyfunction!(open_bu, m)?)?;
    m.add_function(wrap_pyfunction!(ba_packet, m)?)?;
    Ok(())
}
