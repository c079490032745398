//! `dsmip6._core.esp` bindings: `SecurityAssociation` (contract B).
//!
//! The GIL is released only around batch calls, through [`detached`] (STYLE §4.7).

use std::net::IpAddr;

use dsmip6_dataplane::esp::{Algorithm, Batch, Mode, Sa, SaConfig, SaCore, SaState, MAX_OVERHEAD};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors::esp_error;

/// The one place the GIL is released for batch work (STYLE §4.7).
pub(crate) fn detached<T, F>(py: Python<'_>, f: F) -> T
where
    F: pyo3::marker::Ungil + FnOnce() -> T,
    T: pyo3::marker::Ungil,
{
    py.detach(f)
}

pub(crate) fn parse_mode(mode: &str) -> PyResult<Mode> {
    match mode {
        "transport" => Ok(Mode::Transport),
        "tunnel" => Ok(Mode::Tunnel),
        _ => Err(PyValueError::new_err(format!(
            "mode must be 'transport' or 'tunnel', not {mode:?}"
        ))),
    }
}

pub(crate) fn parse_algorithm(name: &str) -> PyResult<Algorithm> {
    Algorithm::from_name(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown ESP algorithm {name:?} (aes-gcm-128, aes-gcm-256, aes-cbc-hmac-sha256, \
             chacha20-poly1305, null)"
        ))
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn build_sa<S: SaState>(
    spi: u32,
    mode: &str,
    algorithm: &str,
    key: &[u8],
    integrity_key: Option<&[u8]>,
    esn: bool,
    udp_encap: Option<(u16, u16)>,
    tunnel_src: Option<IpAddr>,
    tunnel_dst: Option<IpAddr>,
    compact: bool,
) -> PyResult<SaCore<S>> {
    let tunnel = match (tunnel_src, tunnel_dst) {
        (Some(s), Some(d)) => Some((s, d)),
        (None, None) => None,
        _ => {
            return Err(PyValueError::new_err(
                "tunnel_src and tunnel_dst go together",
            ))
        }
    };
    let cfg = SaConfig {
        spi,
        mode: parse_mode(mode)?,
        algorithm: parse_algorithm(algorithm)?,
        key,
        integrity_key,
        esn,
        udp_encap,
        tunnel,
    };
    if compact {
        SaCore::<S>::new_compact(&cfg)
    } else {
        SaCore::<S>::new(&cfg)
    }
    .map_err(esp_error)
}

/// `Sa::encrypt_into` or `Sa::decrypt_into`.
type PacketOp = fn(&mut Sa, &[u8], &mut [u8]) -> Result<usize, dsmip6_dataplane::esp::EspError>;

/// One ESP security association (one direction). See `dsmip6.esp` for the documentation.
#[pyclass(module = "dsmip6._core.esp", name = "SecurityAssociation")]
pub struct PySecurityAssociation {
    sa: Sa,
    scratch: Vec<u8>,
    batch: Batch,
    /// Compact SA: the scratch buffer is released after each packet (a few hundred octets
    /// kept per idle SA otherwise; compact SAs carry few packets).
    compact: bool,
}

impl PySecurityAssociation {
    fn run_one(
        &mut self,
        py: Python<'_>,
        packet: &[u8],
        growth: usize,
        op: PacketOp,
    ) -> PyResult<Py<PyBytes>> {
        let need = packet.len() + growth;
        if self.scratch.len() < need {
            self.scratch.resize(need, 0);
        }
        let r = op(&mut self.sa, packet, &mut self.scratch)
            .map_err(esp_error)
            .map(|n| PyBytes::new(py, &self.scratch[..n]).unbind());
        if self.compact {
            self.scratch = Vec::new();
        }
        r
    }
}

#[pymethods]
impl PySecurityAssociation {
    #[new]
    #[pyo3(signature = (spi, mode, algorithm, key, integrity_key=None, esn=false, udp_encap=None, tunnel_src=None, tunnel_dst=None, *, initial_sequence=0, compact=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        spi: u32,
        mode: &str,
        algorithm: &str,
        key: &[u8],
        integrity_key: Option<&[u8]>,
        esn: bool,
        udp_encap: Option<(u16, u16)>,
        tunnel_src: Option<IpAddr>,
        tunnel_dst: Option<IpAddr>,
        initial_sequence: u64,
        compact: bool,
    ) -> PyResult<Self> {
        let mut sa = build_sa(
            spi,
            mode,
            algorithm,
            key,
            integrity_key,
            esn,
            udp_encap,
            tunnel_src,
            tunnel_dst,
            compact,
        )?;
        sa.set_seq_out(initial_sequence);
        Ok(Self {
            sa,
            scratch: Vec::new(),
            batch: Batch::default(),
            compact,
        })
    }

    /// Protect one whole IP packet; returns the ESP packet.
    fn encrypt(&mut self, py: Python<'_>, packet: &[u8]) -> PyResult<Py<PyBytes>> {
        self.run_one(py, packet, MAX_OVERHEAD, Sa::encrypt_into)
    }

    /// Unprotect one whole IP packet; returns the packet without ESP (b"" for a dummy packet).
    fn decrypt(&mut self, py: Python<'_>, packet: &[u8]) -> PyResult<Py<PyBytes>> {
        self.run_one(py, packet, 0, Sa::decrypt_into)
    }

    /// Protect a list of packets (GIL released). Raises the first error.
    fn encrypt_batch(
        &mut self,
        py: Python<'_>,
        packets: Vec<PyBackedBytes>,
    ) -> PyResult<Py<PyList>> {
        let Self { sa, batch, .. } = self;
        detached(py, || {
            sa.encrypt_batch(packets.iter().map(|p| &p[..]), batch)
        });
        let mut out = Vec::with_capacity(batch.items.len());
        for item in &batch.items {
            match item {
                Ok(r) => out.push(PyBytes::new(py, &batch.buf[r.clone()])),
                Err(e) => return Err(esp_error(*e)),
            }
        }
        Ok(PyList::new(py, out)?.unbind())
    }

    /// Unprotect a list of packets (GIL released). Dropped packets give None; the reasons are
    /// counted in `counters()` (`drop_*`).
    fn decrypt_batch(
        &mut self,
        py: Python<'_>,
        packets: Vec<PyBackedBytes>,
    ) -> PyResult<Py<PyList>> {
        let Self { sa, batch, .. } = self;
        detached(py, || {
            sa.decrypt_batch(packets.iter().map(|p| &p[..]), batch)
        });
        let list = PyList::empty(py);
        for item in &batch.items {
            match item {
                Ok(r) => list.append(PyBytes::new(py, &batch.buf[r.clone()]))?,
                Err(_) => list.append(py.None())?,
            }
        }
        Ok(list.unbind())
    }

    #[getter]
    fn spi(&self) -> u32 {
        self.sa.spi()
    }
    #[getter]
    fn mode(&self) -> &'static str {
        match self.sa.mode() {
            Mode::Transport => "transport",
            Mode::Tunnel => "tunnel",
        }
    }
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.sa.algorithm().name()
    }
    #[getter]
    fn esn(&self) -> bool {
        self.sa.esn()
    }
    /// Last sequence number sent.
    #[getter]
    fn sequence(&self) -> u64 {
        self.sa.seq_out()
    }
    /// Highest authenticated sequence number received.
    #[getter]
    fn replay_top(&self) -> u64 {
        self.sa.replay_top()
    }
    #[getter]
    fn replay_window(&self) -> u64 {
        self.sa.replay_window_size()
    }
    /// Packet/octet counters and per-reason drop counters.
    fn counters<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.sa.counters().items() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "SecurityAssociation(spi={:#010x}, mode={:?}, algorithm={:?}, esn={})",
            self.sa.spi(),
            self.mode(),
            self.algorithm(),
            self.sa.esn()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySecurityAssociation>()?;
    m.add(
        "ALGORITHMS",
        (
            "aes-gcm-128",
            "aes-gcm-256",
            "aes-cbc-hmac-sha256",
            "chacha20-poly1305",
            "null",
        ),
    )?;
    m.add("MAX_OVERHEAD", MAX_OVERHEAD)?;
    Ok(())
}
