//! `dsmip6._core.dataplane` bindings: `BindingCache` (stores the caller's `BindingSpec`
//! objects beside the Rust indexes, so a lookup returns the very object that was added) and
//! `SecurityDatabase` (SAD + SPD + outbound SAs, used by `dsmip6.dataplane.RustDataPlane`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

use dsmip6_dataplane::addr::parse_v6_hex;
use dsmip6_dataplane::cache::{Binding, BindingCache, CareOf, Encapsulation, InboundKey, Instant};
use dsmip6_dataplane::esp::{
    EspError, PacketSelectors, Sa, SaCounters, Sad, Selector, Spd, SpdAction, MAX_OVERHEAD,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString, PyType};

use crate::errors::{cache_error, esp_error, CacheError as PyCacheError};
use crate::esp::build_sa;

static IPV6_ADDRESS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static IPV4_ADDRESS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Addresses already converted, by the identity of the immutable object they came from
/// (exact `str`, or the `int` behind an `ipaddress` object or given as such): what the
/// object's hash cache is to a `dict`. Each slot keeps its object alive, so an identity can
/// never be recycled while it is remembered. Direct-mapped, 4096 slots, one table per
/// thread: a lookup takes no lock and no atomic instruction (a process-wide table behind a
/// mutex cost two locked instructions per lookup).
type MemoSlot = Option<(Py<PyAny>, IpAddr)>;
thread_local! {
    static ADDR_MEMO: RefCell<Vec<MemoSlot>> = const { RefCell::new(Vec::new()) };
}
const MEMO_SLOTS: usize = 4096;

fn memo_slot(obj: &Bound<'_, PyAny>) -> usize {
    let p = obj.as_ptr() as usize;
    ((p >> 4) ^ (p >> 16)) & (MEMO_SLOTS - 1)
}

fn memo_get(obj: &Bound<'_, PyAny>) -> Option<IpAddr> {
    ADDR_MEMO
        .try_with(|m| {
            let m = m.try_borrow().ok()?;
            let (o, a) = m.get(memo_slot(obj))?.as_ref()?;
            o.is(obj).then_some(*a)
        })
        .ok()
        .flatten()
}

fn memo_put(obj: &Bound<'_, PyAny>, a: IpAddr) {
    let old = ADDR_MEMO
        .try_with(|m| {
            let mut m = m.try_borrow_mut().ok()?;
            if m.is_empty() {
                m.resize_with(MEMO_SLOTS, || None);
            }
            m.get_mut(memo_slot(obj))
                .and_then(|s| s.replace((obj.clone().unbind(), a)))
        })
        .ok()
        .flatten();
    drop(old); // the evicted object is released outside the borrow
}

/// An `int` as an IPv6 address (memoised by identity).
fn int_addr(i: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    let exact = i.is_exact_instance_of::<PyInt>();
    if exact {
        if let Some(a) = memo_get(i) {
            return Ok(a);
        }
    }
    let a = IpAddr::V6(Ipv6Addr::from(i.extract::<u128>()?));
    if exact {
        memo_put(i, a);
    }
    Ok(a)
}

/// An address given as `str` (checked first: one type comparison), `ipaddress.IPv6Address`/
/// `IPv4Address` (their `_ip` int), 16- or 4-octet `bytes`, or `int` (IPv6). Text and ints
/// are converted once per object (see `ADDR_MEMO`).
fn to_addr(obj: &Bound<'_, PyAny>) -> PyResult<IpAddr> {
    if let Ok(s) = obj.cast_exact::<PyString>() {
        if let Some(a) = memo_get(obj) {
            return Ok(a);
        }
        let a = str_addr(s)?;
        memo_put(obj, a);
        return Ok(a);
    }
    let py = obj.py();
    let ty = obj.get_type();
    if ty.is(IPV6_ADDRESS.import(py, "ipaddress", "IPv6Address")?) {
        return int_addr(&obj.getattr(pyo3::intern!(py, "_ip"))?);
    }
    if ty.is(IPV4_ADDRESS.import(py, "ipaddress", "IPv4Address")?) {
        let v: u32 = obj.getattr(pyo3::intern!(py, "_ip"))?.extract()?;
        return Ok(IpAddr::V4(v.into()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return str_addr(s);
    }
    if obj.cast::<PyInt>().is_ok() {
        return int_addr(obj);
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        let b = b.as_bytes();
        if let Ok(a) = <[u8; 16]>::try_from(b) {
            return Ok(IpAddr::V6(a.into()));
        }
        if let Ok(a) = <[u8; 4]>::try_from(b) {
            return Ok(IpAddr::V4(a.into()));
        }
    }
    obj.extract::<IpAddr>()
        .map_err(|_| PyTypeError::new_err("expected an IP address"))
}

/// Address text: pure-hex IPv6 in one pass, no intermediate Python object; anything else
/// through the standard library parser.
fn str_addr(s: &Bound<'_, PyString>) -> PyResult<IpAddr> {
    let text = s.to_str()?;
    if let Some(a) = parse_v6_hex(text.as_bytes()) {
        return Ok(IpAddr::V6(a));
    }
    text.parse()
        .map_err(|_| PyValueError::new_err(format!("not an IP address: {s}")))
}

fn v6(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Ipv6Addr> {
    match to_addr(obj)? {
        IpAddr::V6(a) => Ok(a),
        IpAddr::V4(_) => Err(PyValueError::new_err(format!("{what} must be IPv6"))),
    }
}

/// Read a `dsmip6.dataplane_iface.BindingSpec` (or any object with its attributes).
fn binding_from_spec(spec: &Bound<'_, PyAny>) -> PyResult<Binding> {
    // Interned names: a fresh name string per lookup would be kept by CPython's type
    // attribute cache (one entry per lookup, up to 4096 entries), growing the heap.
    let py = spec.py();
    let home_address = v6(
        &spec.getattr(pyo3::intern!(py, "home_address"))?,
        "home_address",
    )?;
    let prefix = spec.getattr(pyo3::intern!(py, "home_prefix"))?;
    let home_prefix = v6(
        &prefix.getattr(pyo3::intern!(py, "network_address"))?,
        "home_prefix",
    )?;
    let prefix_len: u8 = prefix.getattr(pyo3::intern!(py, "prefixlen"))?.extract()?;
    let encap = spec.getattr(pyo3::intern!(py, "encapsulation"))?;
    let encap_name: String = match encap.getattr(pyo3::intern!(py, "value")) {
        Ok(v) => v.extract()?,
        Err(_) => encap.extract()?,
    };
    let encapsulation = match encap_name.as_str() {
        "ip-in-ipv6" => Encapsulation::IpInIpv6,
        "ip-in-ipv4" => Encapsulation::IpInIpv4,
        "udp-ipv4" => Encapsulation::UdpIpv4,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown encapsulation {other:?}"
            )))
        }
    };
    let udp_port: Option<u16> = spec.getattr(pyo3::intern!(py, "udp_port"))?.extract()?;
    let care_of = match to_addr(&spec.getattr(pyo3::intern!(py, "care_of_address"))?)? {
        IpAddr::V6(a) => CareOf::V6(a),
        IpAddr::V4(addr) => CareOf::V4 {
            addr,
            port: udp_port,
        },
    };
    let v4 = spec.getattr(pyo3::intern!(py, "ipv4_home_address"))?;
    let ipv4_home_address = if v4.is_none() {
        None
    } else {
        match to_addr(&v4)? {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) => return Err(PyValueError::new_err("ipv4_home_address must be IPv4")),
        }
    };
    let lifetime: f64 = spec.getattr(pyo3::intern!(py, "lifetime"))?.extract()?;
    let expires_at: f64 = spec.getattr(pyo3::intern!(py, "expires_at"))?.extract()?;
    Ok(Binding {
        home_address,
        home_prefix,
        prefix_len,
        ipv4_home_address,
        care_of,
        encapsulation,
        lifetime: lifetime as f32,
        expires_at: Instant::from_secs_f64(expires_at),
        sequence: spec.getattr(pyo3::intern!(py, "sequence"))?.extract()?,
        flags: spec.getattr(pyo3::intern!(py, "flags"))?.extract()?,
        sa_in: spec.getattr(pyo3::intern!(py, "sa_in"))?.extract()?,
        sa_out: spec.getattr(pyo3::intern!(py, "sa_out"))?.extract()?,
    })
}

/// Per-process seeded hashing of address keys: one folded multiply of the two halves.
#[derive(Clone, Copy)]
struct AddrHash([u64; 2]);

impl Default for AddrHash {
    fn default() -> Self {
        let rs = std::collections::hash_map::RandomState::new();
        Self([rs.hash_one(1u8), rs.hash_one(2u8)])
    }
}

struct AddrHasher([u64; 2], u64);

impl BuildHasher for AddrHash {
    type Hasher = AddrHasher;
    fn build_hasher(&self) -> AddrHasher {
        AddrHasher(self.0, 0)
    }
}

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `u128` keys; a plain FNV-1a step keeps the trait complete.
        for b in bytes {
            self.1 = (self.1 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn write_u128(&mut self, v: u128) {
        let p = u128::from(v as u64 ^ self.0[0]) * u128::from((v >> 64) as u64 ^ self.0[1]);
        self.1 = (p as u64) ^ ((p >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        self.1
    }
}

/// The HA binding cache (or UE binding update list); see `dsmip6.dataplane.BindingCache`.
///
/// Besides the Rust cache (every index, longest-prefix match, counters), the entry objects
/// are kept by exact home address in a map of their own: the common Python lookup is then
/// one hash probe and one reference increment (the Rust records need not be read back).
/// Both are changed together by every method, under the GIL.
#[pyclass(module = "dsmip6._core.dataplane", name = "BindingCache", frozen)]
pub struct PyBindingCache {
    inner: BindingCache<Py<PyAny>>,
    by_hoa: Mutex<HashMap<u128, Py<PyAny>, AddrHash>>,
    /// False: no Python object is kept per binding (the payload is `None`); readers
    /// rebuild a `BindingSpec` from the Rust record (see `record_spec`).
    keep: bool,
}

static SPEC_FROM_RECORD: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The Python view of a stored binding: the kept object, or (compact cache, payload
/// `None`) a `BindingSpec` rebuilt by `dsmip6.dataplane_iface.spec_from_record`.
fn record_spec(py: Python<'_>, b: &Binding, p: &Py<PyAny>) -> PyResult<Py<PyAny>> {
    if !p.is_none(py) {
        return Ok(p.clone_ref(py));
    }
    let f = SPEC_FROM_RECORD.get_or_try_init(py, || {
        py.import("dsmip6.dataplane_iface")?
            .getattr("spec_from_record")
            .map(Bound::unbind)
    })?;
    let (coa, coa_v4, port) = match b.care_of {
        CareOf::V6(a) => (u128::from(a), false, None),
        CareOf::V4 { addr, port } => (u128::from(u32::from(addr)), true, port),
    };
    let encap = match b.encapsulation {
        Encapsulation::IpInIpv6 => "ip-in-ipv6",
        Encapsulation::IpInIpv4 => "ip-in-ipv4",
        Encapsulation::UdpIpv4 => "udp-ipv4",
    };
    let args = (
        u128::from(b.home_address),
        u128::from(b.home_prefix),
        b.prefix_len,
        coa,
        coa_v4,
        encap,
        f64::from(b.lifetime),
        b.expires_at.as_secs_f64(),
        b.sequence,
        b.flags,
        b.ipv4_home_address.map(u32::from),
        port,
    );
    let sas = (b.sa_out, b.sa_in);
    Ok(f.bind(py).call1((args, sas))?.unbind())
}

fn records_spec(py: Python<'_>, v: Vec<(Binding, Py<PyAny>)>) -> PyResult<Vec<Py<PyAny>>> {
    v.iter().map(|(b, p)| record_spec(py, b, p)).collect()
}

impl PyBindingCache {
    /// The payload stored for `binding`: the object itself, or `None` (compact cache).
    fn payload(&self, binding: &Bound<'_, PyAny>) -> Py<PyAny> {
        if self.keep {
            binding.clone().unbind()
        } else {
            binding.py().None()
        }
    }

    /// Replace lifetime, expiry and sequence of the binding of `hoa` (and its payload).
    fn renew_record(
        &self,
        hoa: Ipv6Addr,
        lifetime: f64,
        expires_at: f64,
        sequence: u16,
        payload: Py<PyAny>,
    ) -> PyResult<()> {
        let mut b = self
            .inner
            .get_with(hoa, |b, _| *b)
            .ok_or_else(|| cache_error(dsmip6_dataplane::cache::CacheError::NotFound))?;
        b.lifetime = lifetime as f32;
        b.expires_at = Instant::from_secs_f64(expires_at);
        b.sequence = sequence;
        self.inner.update_with(b, payload).map_err(cache_error)
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Py<PyAny>, AddrHash>> {
        self.by_hoa
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl PyBindingCache {
    /// `keep_objects=False`: keep no Python object per binding (readers get a rebuilt
    /// `BindingSpec`, equal to the one added but with `expires_at` to the microsecond and
    /// `lifetime` as a 32-bit float).
    #[new]
    #[pyo3(signature = (*, keep_objects=true))]
    fn new(keep_objects: bool) -> Self {
        Self {
            inner: BindingCache::new(),
            by_hoa: Mutex::new(HashMap::default()),
            keep: keep_objects,
        }
    }

    /// Add a binding (a `BindingSpec`). Raises `CacheError` if its HoA, prefix, IPv4 HoA or
    /// inbound key is taken.
    fn add(&self, binding: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = binding_from_spec(binding)?;
        self.inner
            .insert_with(b, self.payload(binding))
            .map_err(cache_error)?;
        if self.keep {
            self.entries()
                .insert(u128::from(b.home_address), binding.clone().unbind());
        }
        Ok(())
    }

    /// Replace the binding with the same home address. Raises `CacheError` if there is none.
    fn update(&self, binding: &Bound<'_, PyAny>) -> PyResult<()> {
        let b = binding_from_spec(binding)?;
        self.inner
            .update_with(b, self.payload(binding))
            .map_err(cache_error)?;
        if self.keep {
            let old = self
                .entries()
                .insert(u128::from(b.home_address), binding.clone().unbind());
            drop(old); // released outside the lock
        }
        Ok(())
    }

    /// `update` for a lifetime refresh (RFC 6275 §10.3.1): `binding` equals the stored
    /// one except `lifetime`, `expires_at` and `sequence` (the caller guarantees it; the HA
    /// calls this only then), so only those and `home_address` are read; the stored object
    /// is replaced by `binding`. Raises `CacheError` if there is no binding for its HoA.
    fn renew(&self, binding: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = binding.py();
        let hoa = v6(
            &binding.getattr(pyo3::intern!(py, "home_address"))?,
            "home_address",
        )?;
        let lifetime: f64 = binding.getattr(pyo3::intern!(py, "lifetime"))?.extract()?;
        let expires_at: f64 = binding
            .getattr(pyo3::intern!(py, "expires_at"))?
            .extract()?;
        let sequence = binding.getattr(pyo3::intern!(py, "sequence"))?.extract()?;
        self.renew_record(hoa, lifetime, expires_at, sequence, self.payload(binding))?;
        if self.keep {
            // The exact-HoA map must hand out the renewed object too (as `update` does).
            let old = self
                .entries()
                .insert(u128::from(hoa), binding.clone().unbind());
            drop(old); // released outside the lock
        }
        Ok(())
    }

    /// `renew` from the values alone (a compact cache only: no object to store).
    fn renew_fields(
        &self,
        py: Python<'_>,
        home_address: &Bound<'_, PyAny>,
        lifetime: f64,
        expires_at: f64,
        sequence: u16,
    ) -> PyResult<()> {
        if self.keep {
            return Err(PyValueError::new_err(
                "renew_fields needs BindingCache(keep_objects=False)",
            ));
        }
        let hoa = v6(home_address, "home_address")?;
        self.renew_record(hoa, lifetime, expires_at, sequence, py.None())
    }

    /// `add` from the values alone (a compact cache only: no object to store), as
    /// `dsmip6.dataplane.RustDataPlane.add_fields` passes them after the spec's checks:
    /// addresses as ints (`care_of` IPv4 exactly when `encapsulation` is not 0), the
    /// encapsulation as 0 = IP-in-IPv6, 1 = IP-in-IPv4, 2 = UDP over IPv4; no SAs.
    #[allow(clippy::too_many_arguments)]
    fn add_fields(
        &self,
        py: Python<'_>,
        home_address: u128,
        home_prefix: u128,
        prefix_len: u8,
        care_of: u128,
        encapsulation: u8,
        lifetime: f64,
        expires_at: f64,
        sequence: u16,
        flags: u16,
        ipv4_home_address: Option<u32>,
        udp_port: Option<u16>,
    ) -> PyResult<()> {
        if self.keep {
            return Err(PyValueError::new_err(
                "add_fields needs BindingCache(keep_objects=False)",
            ));
        }
        let (encapsulation, care_of) = match encapsulation {
            0 => (Encapsulation::IpInIpv6, CareOf::V6(Ipv6Addr::from(care_of))),
            1 | 2 => {
                let addr = u32::try_from(care_of)
                    .map_err(|_| PyValueError::new_err("an IPv4 care-of address is 32 bits"))?;
                let e = if encapsulation == 1 {
                    Encapsulation::IpInIpv4
                } else {
                    Encapsulation::UdpIpv4
                };
                let port = udp_port;
                (
                    e,
                    CareOf::V4 {
                        addr: addr.into(),
                        port,
                    },
                )
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown encapsulation code {other}"
                )))
            }
        };
        let b = Binding {
            home_address: Ipv6Addr::from(home_address),
            home_prefix: Ipv6Addr::from(home_prefix),
            prefix_len,
            ipv4_home_address: ipv4_home_address.map(Into::into),
            care_of,
            encapsulation,
            lifetime: lifetime as f32,
            expires_at: Instant::from_secs_f64(expires_at),
            sequence,
            flags,
            sa_in: None,
            sa_out: None,
        };
        self.inner.insert_with(b, py.None()).map_err(cache_error)
    }

    /// Remove and return the binding of `home_address`. Raises `CacheError` if there is none.
    fn remove(&self, home_address: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let hoa = v6(home_address, "home_address")?;
        let (b, p) = self.inner.remove_with(hoa).map_err(cache_error)?;
        if self.keep {
            let old = self.entries().remove(&u128::from(hoa));
            drop(old);
        }
        record_spec(home_address.py(), &b, &p)
    }

    /// Outbound lookup: IPv6 → the binding with that HoA, else the longest matching home
    /// network prefix; IPv4 → the binding with that IPv4 HoA. None if nothing matches.
    fn lookup(&self, py: Python<'_>, address: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        Ok(match to_addr(address)? {
            IpAddr::V6(a) => match self.entries().get(&u128::from(a)) {
                Some(p) => Some(p.clone_ref(py)),
                None => self
                    .inner
                    .lookup_v6_with(a, |b, p| record_spec(py, b, p))
                    .transpose()?,
            },
            IpAddr::V4(a) => self
                .inner
                .lookup_v4_with(a, |b, p| record_spec(py, b, p))
                .transpose()?,
        })
    }

    /// `lookup` over a list (one call for many addresses).
    fn lookup_many(&self, py: Python<'_>, addresses: &Bound<'_, PyList>) -> PyResult<Py<PyList>> {
        let out = PyList::empty(py);
        for a in addresses.iter() {
            match self.lookup(py, &a)? {
                Some(b) => out.append(b)?,
                None => out.append(py.None())?,
            }
        }
        Ok(out.unbind())
    }

    /// The binding of exactly this home address, or None.
    fn get(&self, py: Python<'_>, home_address: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let hoa = v6(home_address, "home_address")?;
        if !self.keep {
            return self
                .inner
                .get_with(hoa, |b, p| record_spec(py, b, p))
                .transpose();
        }
        Ok(self
            .entries()
            .get(&u128::from(hoa))
            .map(|p| p.clone_ref(py)))
    }

    /// Inbound lookup by outer source address and SPI, or UDP source port, or neither.
    #[pyo3(signature = (source, *, spi=None, udp_port=None))]
    fn lookup_inbound(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        spi: Option<u32>,
        udp_port: Option<u16>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let key = match (spi, udp_port) {
            (Some(s), None) => InboundKey::Spi(s),
            (None, Some(p)) => InboundKey::UdpPort(p),
            (None, None) => InboundKey::Plain,
            _ => return Err(PyValueError::new_err("give spi or udp_port, not both")),
        };
        self.inner
            .lookup_inbound_with(to_addr(source)?, key, |b, p| record_spec(py, b, p))
            .transpose()
    }

    /// Remove every binding with `expires_at <= now`; returns them.
    fn expire(&self, py: Python<'_>, now: f64) -> PyResult<Py<PyList>> {
        let gone = self.inner.expire_with(Instant::from_secs_f64(now));
        let old: Vec<_> = {
            let mut m = self.entries();
            gone.iter()
                .filter_map(|(b, _)| m.remove(&u128::from(b.home_address)))
                .collect()
        };
        drop(old);
        Ok(PyList::new(py, records_spec(py, gone)?)?.unbind())
    }

    /// Count one packet of `octets` towards (`to_ue=True`) or from the UE of `home_address`.
    fn count(&self, home_address: &Bound<'_, PyAny>, to_ue: bool, octets: u64) -> PyResult<bool> {
        Ok(self
            .inner
            .count(v6(home_address, "home_address")?, to_ue, octets))
    }

    /// Per-binding traffic counters, or None.
    fn counters<'py>(
        &self,
        py: Python<'py>,
        home_address: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(c) = self.inner.counters(v6(home_address, "home_address")?) else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("packets_to_ue", c.packets_to_ue)?;
        d.set_item("bytes_to_ue", c.bytes_to_ue)?;
        d.set_item("packets_from_ue", c.packets_from_ue)?;
        d.set_item("bytes_from_ue", c.bytes_from_ue)?;
        Ok(Some(d))
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, home_address: &Bound<'_, PyAny>) -> PyResult<bool> {
        let hoa = v6(home_address, "home_address")?;
        if !self.keep {
            return Ok(self.inner.get_with(hoa, |_, _| ()).is_some());
        }
        Ok(self.entries().contains_key(&u128::from(hoa)))
    }

    /// Iterate over a snapshot of the bindings.
    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let mut v = Vec::with_capacity(self.inner.len());
        self.inner.for_each(|b, p| v.push((*b, p.clone_ref(py))));
        Ok(PyList::new(py, records_spec(py, v)?)?
            .as_any()
            .try_iter()?
            .into_any()
            .unbind())
    }
}

fn counters_add(total: &mut HashMap<&'static str, u64>, c: SaCounters) {
    for (k, v) in c.items() {
        *total.entry(k).or_default() += v;
    }
}

/// SAD (inbound SAs by SPI + destination), outbound SAs by SPI, and the SPD choosing them.
#[pyclass(module = "dsmip6._core.dataplane", name = "SecurityDatabase")]
pub struct PySecurityDatabase {
    inbound: Sad,
    outbound: HashMap<u32, Sa>,
    inbound_dst: HashMap<u32, IpAddr>,
    spd: Spd,
    scratch: Vec<u8>,
}

#[pymethods]
impl PySecurityDatabase {
    #[new]
    fn new() -> Self {
        Self {
            inbound: Sad::new(),
            outbound: HashMap::new(),
            inbound_dst: HashMap::new(),
            spd: Spd::new(),
            scratch: Vec::new(),
        }
    }

    /// Install one SA. Outbound SAs also get SPD entries: transport mode between `src` and
    /// `dst` for `protocol` (MH types in the high octet of the port selector when
    /// `protocol == 135` and `mh_types` is not empty); tunnel mode for any inner traffic.
    #[pyo3(signature = (spi, direction, mode, algorithm, key, src, dst, integrity_key=None, esn=false, udp_encap=None, protocol=None, mh_types=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn add_sa(
        &mut self,
        spi: u32,
        direction: &str,
        mode: &str,
        algorithm: &str,
        key: &[u8],
        src: &Bound<'_, PyAny>,
        dst: &Bound<'_, PyAny>,
        integrity_key: Option<&[u8]>,
        esn: bool,
        udp_encap: Option<(u16, u16)>,
        protocol: Option<u8>,
        mh_types: Vec<u8>,
    ) -> PyResult<()> {
        let (src, dst) = (to_addr(src)?, to_addr(dst)?);
        let tunnel = mode == "tunnel";
        match direction {
            "in" => {
                let sa = build_sa(
                    spi,
                    mode,
                    algorithm,
                    key,
                    integrity_key,
                    esn,
                    udp_encap,
                    None,
                    None,
                    false,
                )?;
                if !self.inbound.insert(Some(dst), sa) || self.inbound_dst.contains_key(&spi) {
                    return Err(PyCacheError::new_err(format!("SA {spi:#010x}/in exists")));
                }
                self.inbound_dst.insert(spi, dst);
            }
            "out" => {
                if self.outbound.contains_key(&spi) {
                    return Err(PyCacheError::new_err(format!("SA {spi:#010x}/out exists")));
                }
                let (ts, td) = if tunnel {
                    (Some(src), Some(dst))
                } else {
                    (None, None)
                };
                let sa = build_sa(
                    spi,
                    mode,
                    algorithm,
                    key,
                    integrity_key,
                    esn,
                    udp_encap,
                    ts,
                    td,
                    false,
                )?;
                let any = |a: IpAddr| (a, 0u8);
                let host = |a: IpAddr| (a, if a.is_ipv6() { 128u8 } else { 32 });
                if protocol == Some(135) && !mh_types.is_empty() {
                    for t in &mh_types {
                        self.spd
                            .push(Selector::mobility(src, dst, *t), SpdAction::Protect(spi));
                    }
                } else {
                    let (l, r) = if tunnel {
                        (any(src), any(dst))
                    } else {
                        (host(src), host(dst))
                    };
                    let sel = Selector {
                        local: l,
                        remote: r,
                        protocol,
                        local_ports: (0, 0xffff),
                        remote_ports: (0, 0xffff),
                    };
                    self.spd.push(sel, SpdAction::Protect(spi));
                    if tunnel {
                        // Tunnel SAs of the other family too (IPv4 HoA over an IPv6 CoA...).
                        let other = |a: IpAddr| match a {
                            IpAddr::V6(_) => (IpAddr::V4(0.into()), 0),
                            IpAddr::V4(_) => (IpAddr::V6(0.into()), 0),
                        };
                        let mut sel2 = sel;
                        sel2.local = other(src);
                        sel2.remote = other(dst);
                        self.spd.push(sel2, SpdAction::Protect(spi));
                    }
                }
                self.outbound.insert(spi, sa);
            }
            _ => return Err(PyValueError::new_err("direction must be 'in' or 'out'")),
        }
        Ok(())
    }

    /// Remove one SA (and its SPD entries). Raises `CacheError` if absent.
    fn del_sa(&mut self, spi: u32, direction: &str) -> PyResult<()> {
        let found = match direction {
            "in" => {
                let dst = self.inbound_dst.remove(&spi);
                dst.and_then(|d| self.inbound.remove(spi, Some(d)))
                    .is_some()
            }
            "out" => {
                self.spd.remove_spi(spi);
                self.outbound.remove(&spi).is_some()
            }
            _ => return Err(PyValueError::new_err("direction must be 'in' or 'out'")),
        };
        if found {
            Ok(())
        } else {
            Err(PyCacheError::new_err(format!(
                "no SA {spi:#010x}/{direction}"
            )))
        }
    }

    /// Apply the SPD to an outbound packet: the ESP packet, the packet itself (bypass), or
    /// None (discard: no policy matches).
    fn protect(&mut self, py: Python<'_>, packet: &[u8]) -> PyResult<Option<Py<PyBytes>>> {
        let sel = PacketSelectors::from_packet(packet).map_err(esp_error)?;
        match self.spd.lookup(&sel) {
            SpdAction::Discard => Ok(None),
            SpdAction::Bypass => Ok(Some(PyBytes::new(py, packet).unbind())),
            SpdAction::Protect(spi) => {
                let sa = self
                    .outbound
                    .get_mut(&spi)
                    .ok_or_else(|| esp_error(EspError::UnknownSpi(spi)))?;
                let need = packet.len() + MAX_OVERHEAD;
                if self.scratch.len() < need {
                    self.scratch.resize(need, 0);
                }
                let n = sa
                    .encrypt_into(packet, &mut self.scratch)
                    .map_err(esp_error)?;
                Ok(Some(PyBytes::new(py, &self.scratch[..n]).unbind()))
            }
        }
    }

    /// Decrypt an inbound ESP packet with the SA of its SPI and destination.
    fn unprotect(&mut self, py: Python<'_>, packet: &[u8]) -> PyResult<Py<PyBytes>> {
        if self.scratch.len() < packet.len() {
            self.scratch.resize(packet.len(), 0);
        }
        let (_, n) = self
            .inbound
            .decrypt_into(packet, &mut self.scratch)
            .map_err(esp_error)?;
        Ok(PyBytes::new(py, &self.scratch[..n]).unbind())
    }

    /// Totals over every SA (`packets_out`, `drop_replay`, ...) and SA/policy counts.
    fn counters(&self) -> HashMap<&'static str, u64> {
        let mut t = HashMap::new();
        for (_, sa) in self.inbound.iter() {
            counters_add(&mut t, sa.counters());
        }
        for sa in self.outbound.values() {
            counters_add(&mut t, sa.counters());
        }
        t.insert("sas_in", self.inbound.len() as u64);
        t.insert("sas_out", self.outbound.len() as u64);
        t.insert("policies", self.spd.len() as u64);
        t
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBindingCache>()?;
    m.add_class::<PySecurityDatabase>()?;
    Ok(())
}
