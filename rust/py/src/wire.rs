//! `dsmip6._core.wire`: typed, frozen Python classes over `dsmip6-wire` (contract A).
//!
//! Every message, option and layer is a frozen pyclass holding plain Rust values; `build`
//! turns a list of them into wire representations and emits them in one pass, `parse` keeps the
//! bytes of a fully validated packet and materialises the layer objects only when asked
//! (`Packet.layers`), which keeps the per-packet cost of `parse` to validation plus one object.

use crate::errors::WireError;
use dsmip6_wire::ipv6opt::{Ipv6OptionRepr, Ipv6Options};
use dsmip6_wire::mh::{ba_flags, br_flags, bu_flags};
use dsmip6_wire::mhopt::MobilityOptionRepr as MOpt;
use dsmip6_wire::packet::{LaidOut, MAX_LAYERS};
use dsmip6_wire::{
    ipv6, parse_packet, parse_packet_with, DestOptsRepr, EspRepr, IpProtocol, Ipv4Repr, Ipv6Packet,
    Ipv6Repr, Layer as WLayer, MhMessage, MobilityHeader, MobilityOptions, MobilityRepr,
    RoutingHeader2Repr, UdpRepr,
};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};
use pyo3::PyTypeInfo;
use smallvec::SmallVec;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Value types crossing the boundary: addresses as `str` (ipaddress objects accepted), bytes.

/// Parse `obj` (a `str` or anything whose `str()` is an address) as `T`.
fn addr_from<T: ParseAddr>(obj: &Borrowed<'_, '_, PyAny>, what: &str) -> PyResult<T> {
    let parsed = if let Ok(s) = obj.cast::<PyString>() {
        T::parse_addr(s.to_str()?)
    } else if obj.is_none() {
        None
    } else {
        T::parse_addr(obj.str()?.to_str()?)
    };
    match parsed {
        Some(a) => Ok(a),
        None => Err(PyValueError::new_err(format!(
            "not an {what} address: {}",
            obj.repr()?
        ))),
    }
}

/// Parsing an IPv6 address from text costs more than building a whole Mobility Header, and
/// callers pass the same few addresses again and again (HoA, HA, CoA): remember the last ones.
fn parse_v6_cached(text: &str) -> Option<Ipv6Addr> {
    use std::cell::RefCell;
    const SLOTS: usize = 8;
    thread_local! {
        static CACHE: RefCell<([(String, Ipv6Addr); SLOTS], usize)> =
            RefCell::new((std::array::from_fn(|_| (String::new(), Ipv6Addr::UNSPECIFIED)), 0));
    }
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((_, a)) = c.0.iter().find(|(t, _)| !t.is_empty() && t == text) {
            return Some(*a);
        }
        let a: Ipv6Addr = text.parse().ok()?;
        let slot = c.1;
        c.0[slot] = (text.to_owned(), a);
        c.1 = (slot + 1) % SLOTS;
        Some(a)
    })
}

/// Text -> address, with the cache for IPv6.
trait ParseAddr: Sized {
    fn parse_addr(text: &str) -> Option<Self>;
}
impl ParseAddr for Ipv6Addr {
    fn parse_addr(text: &str) -> Option<Self> {
        parse_v6_cached(text)
    }
}
impl ParseAddr for Ipv4Addr {
    fn parse_addr(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}
impl ParseAddr for IpAddr {
    fn parse_addr(text: &str) -> Option<Self> {
        if text.contains(':') {
            parse_v6_cached(text).map(IpAddr::V6)
        } else {
            text.parse().ok()
        }
    }
}

macro_rules! addr_newtype {
    ($name:ident, $inner:ty, $what:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub struct $name(pub $inner);

        impl<'a, 'py> FromPyObject<'a, 'py> for $name {
            type Error = PyErr;
            fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                addr_from::<$inner>(&obj, $what).map($name)
            }
        }

        impl<'py> IntoPyObject<'py> for $name {
            type Target = PyString;
            type Output = Bound<'py, PyString>;
            type Error = std::convert::Infallible;
            fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
                Ok(PyString::new(py, &self.0.to_string()))
            }
        }
    };
}

addr_newtype!(A6, Ipv6Addr, "IPv6");
addr_newtype!(A4, Ipv4Addr, "IPv4");
addr_newtype!(IpA, IpAddr, "IP");

/// Values that `to_dict` writes (JSON-friendly apart from `bytes`).
trait DictValue {
    fn dict_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

macro_rules! dict_value_by_conversion {
    ($($t:ty),*) => {$(
        impl DictValue for $t {
            fn dict_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                pyo3::IntoPyObjectExt::into_bound_py_any(self.clone(), py)
            }
        }
    )*};
}
dict_value_by_conversion!(
    u8,
    u16,
    u32,
    bool,
    A6,
    A4,
    IpA,
    Option<IpA>,
    Option<u8>,
    Vec<u8>,
    Vec<u16>
);

impl DictValue for Vec<A6> {
    fn dict_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.iter().map(|a| a.0.to_string()))?.into_any())
    }
}

/// Per-class argument checks beyond the integer ranges the types already enforce.
trait Validate {
    fn validate(&self) -> PyResult<()> {
        Ok(())
    }
}

fn check(ok: bool, msg: &str) -> PyResult<()> {
    if ok {
        Ok(())
    } else {
        Err(PyValueError::new_err(msg.to_owned()))
    }
}

/// `o` as a `T` if its type is exactly `T` (a miss costs one pointer comparison, where a failed
/// `cast_exact` builds a CastError holding a new reference to the type).
#[inline]
fn exact<'a, 'py, T: PyTypeInfo>(o: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, T>> {
    if o.is_exact_instance_of::<T>() {
        o.cast_exact::<T>().ok()
    } else {
        None
    }
}

/// A frozen pyclass with getters, a keyword-aware constructor, `to_dict`, `__repr__` and
/// `__eq__` (fields in constructor order, named after the RFC fields).
macro_rules! record {
    (
        $(#[$m:meta])*
        $name:ident ($($sig:tt)*) { $($f:ident : $t:ty),* $(,)? }
        methods { $($extra:tt)* }
    ) => {
        $(#[$m])*
        #[pyclass(frozen, eq, module = "dsmip6._core.wire")]
        #[derive(Clone, PartialEq, Debug)]
        pub struct $name { $( #[pyo3(get)] pub $f: $t ),* }

        #[pymethods]
        impl $name {
            #[new]
            #[pyo3(signature = ($($sig)*))]
            #[allow(clippy::too_many_arguments)]
            fn py_new($($f: $t),*) -> PyResult<Self> {
                let s = $name { $($f),* };
                Validate::validate(&s)?;
                Ok(s)
            }

            /// The fields as a dict (RFC field names in snake_case).
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                #[allow(unused_variables)]
                let d = PyDict::new(py);
                $( d.set_item(stringify!($f), DictValue::dict_value(&self.$f, py)?)?; )*
                Ok(d)
            }

            #[allow(unused_variables)]
            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                #[allow(unused_mut)]
                let mut parts: Vec<String> = Vec::new();
                $( parts.push(format!("{}={}", stringify!($f),
                    pyo3::IntoPyObjectExt::into_bound_py_any(self.$f.clone(), py)?.repr()?)); )*
                Ok(format!("{}({})", stringify!($name), parts.join(", ")))
            }

            $($extra)*
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Mobility options (RFC 6275 §6.2, RFC 5555 §3, RFC 5648 §6.1, RFC 6089 §4.2).

record! {
    /// Pad1 (one octet of padding).
    Pad1 () {}
    methods {}
}
impl Validate for Pad1 {}

record! {
    /// PadN: `length` zero octets after the Type and Length octets.
    PadN (length) { length: u8 }
    methods {}
}
impl Validate for PadN {}

record! {
    /// Binding Refresh Advice (type 2): refresh interval in units of 4 s.
    BindingRefreshAdvice (refresh_interval_4s) { refresh_interval_4s: u16 }
    methods {}
}
impl Validate for BindingRefreshAdvice {}

record! {
    /// Alternate Care-of Address (type 3).
    AlternateCareOfAddress (address) { address: A6 }
    methods {}
}
impl Validate for AlternateCareOfAddress {}

record! {
    /// Nonce Indices (type 4).
    NonceIndices (home_nonce_index, care_of_nonce_index) {
        home_nonce_index: u16, care_of_nonce_index: u16
    }
    methods {}
}
impl Validate for NonceIndices {}

record! {
    /// Binding Authorization Data (type 5).
    BindingAuthorizationData (authenticator) { authenticator: Vec<u8> }
    methods {}
}
impl Validate for BindingAuthorizationData {
    fn validate(&self) -> PyResult<()> {
        check(
            self.authenticator.len() <= 255,
            "authenticator longer than 255 octets",
        )
    }
}

record! {
    /// Mobile Node Identifier (type 8, RFC 4283): subtype 1 = NAI.
    MobileNodeIdentifier (subtype, identifier) { subtype: u8, identifier: Vec<u8> }
    methods {}
}
impl Validate for MobileNodeIdentifier {
    fn validate(&self) -> PyResult<()> {
        check(
            (1..=254).contains(&self.identifier.len()),
            "identifier must be 1..254 octets",
        )
    }
}

record! {
    /// IPv4 Home Address (type 29, RFC 5555 §3.1.1); 0.0.0.0 asks for dynamic allocation.
    Ipv4HomeAddress (address, prefix_len=32, p=false) { address: A4, prefix_len: u8, p: bool }
    methods {}
}
impl Validate for Ipv4HomeAddress {
    fn validate(&self) -> PyResult<()> {
        check(self.prefix_len <= 32, "prefix_len must be 0..32")
    }
}

record! {
    /// IPv4 Address Acknowledgement (type 30, RFC 5555 §3.2.1).
    Ipv4AddressAcknowledgement (status, prefix_len, address) {
        status: u8, prefix_len: u8, address: A4
    }
    methods {}
}
impl Validate for Ipv4AddressAcknowledgement {
    fn validate(&self) -> PyResult<()> {
        check(self.prefix_len <= 32, "prefix_len must be 0..32")
    }
}

record! {
    /// NAT Detection (type 31, RFC 5555 §3.2.2): F forces UDP; refresh time in seconds.
    NatDetection (f, refresh_time) { f: bool, refresh_time: u32 }
    methods {}
}
impl Validate for NatDetection {}

record! {
    /// IPv4 Care-of Address (type 32, RFC 5555 §3.1.2).
    Ipv4CareOfAddress (address) { address: A4 }
    methods {}
}
impl Validate for Ipv4CareOfAddress {}

record! {
    /// Binding Identifier (type 35, RFC 5648 §6.1), with an optional IPv4 or IPv6 care-of address.
    BindingIdentifier (bid, status=0, h=false, care_of_address=None) {
        bid: u16, status: u8, h: bool, care_of_address: Option<IpA>
    }
    methods {}
}
impl Validate for BindingIdentifier {}

record! {
    /// Flow Summary (type 44, RFC 6089 §4.2.2): the flow identifiers to refresh.
    FlowSummary (flow_ids) { flow_ids: Vec<u16> }
    methods {}
}
impl Validate for FlowSummary {
    fn validate(&self) -> PyResult<()> {
        check(
            (1..=127).contains(&self.flow_ids.len()),
            "flow_ids must hold 1..127 identifiers",
        )
    }
}

record! {
    /// Flow Identification (type 45, RFC 6089 §4.2.1); sub-options kept as octets.
    FlowIdentification (fid, fid_pri, status, sub_options=Vec::new()) {
        fid: u16, fid_pri: u16, status: u8, sub_options: Vec<u8>
    }
    methods {}
}
impl Validate for FlowIdentification {
    fn validate(&self) -> PyResult<()> {
        check(
            self.sub_options.len() <= 249,
            "sub_options longer than 249 octets",
        )
    }
}

record! {
    /// An option type this codec does not decode, kept with its data.
    UnknownOption (option_type, data) { option_type: u8, data: Vec<u8> }
    methods {}
}
impl Validate for UnknownOption {
    fn validate(&self) -> PyResult<()> {
        check(
            self.option_type > 1,
            "option types 0 and 1 are Pad1 and PadN",
        )?;
        check(self.data.len() <= 255, "data longer than 255 octets")
    }
}

/// Any mobility option, owned.
#[derive(Clone, PartialEq, Debug)]
pub enum Opt {
    Pad1(Pad1),
    PadN(PadN),
    Bra(BindingRefreshAdvice),
    AltCoa(AlternateCareOfAddress),
    Nonce(NonceIndices),
    Auth(BindingAuthorizationData),
    Mnid(MobileNodeIdentifier),
    V4Hoa(Ipv4HomeAddress),
    V4Ack(Ipv4AddressAcknowledgement),
    Natd(NatDetection),
    V4Coa(Ipv4CareOfAddress),
    Bid(BindingIdentifier),
    FlowSum(FlowSummary),
    FlowId(FlowIdentification),
    Unknown(UnknownOption),
}

/// Run `$body` with `$x` bound to the inner pyclass value of an `Opt`.
macro_rules! each_opt {
    ($o:expr, $x:ident => $body:expr) => {
        match $o {
            Opt::Pad1($x) => $body,
            Opt::PadN($x) => $body,
            Opt::Bra($x) => $body,
            Opt::AltCoa($x) => $body,
            Opt::Nonce($x) => $body,
            Opt::Auth($x) => $body,
            Opt::Mnid($x) => $body,
            Opt::V4Hoa($x) => $body,
            Opt::V4Ack($x) => $body,
            Opt::Natd($x) => $body,
            Opt::V4Coa($x) => $body,
            Opt::Bid($x) => $body,
            Opt::FlowSum($x) => $body,
            Opt::FlowId($x) => $body,
            Opt::Unknown($x) => $body,
        }
    };
}

impl Opt {
    fn extract(o: &Bound<'_, PyAny>) -> PyResult<Opt> {
        macro_rules! try_cast {
            ($($cls:ident => $var:ident),*) => {$(
                if let Some(x) = exact::<$cls>(o) {
                    return Ok(Opt::$var(x.get().clone()));
                }
            )*};
        }
        try_cast!(
            AlternateCareOfAddress => AltCoa, Ipv4HomeAddress => V4Hoa, Ipv4CareOfAddress => V4Coa,
            Ipv4AddressAcknowledgement => V4Ack, NatDetection => Natd,
            BindingRefreshAdvice => Bra, BindingIdentifier => Bid, MobileNodeIdentifier => Mnid,
            Pad1 => Pad1, PadN => PadN, NonceIndices => Nonce, BindingAuthorizationData => Auth,
            FlowSummary => FlowSum, FlowIdentification => FlowId, UnknownOption => Unknown
        );
        Err(PyTypeError::new_err(format!(
            "not a mobility option: {}",
            o.get_type().name()?
        )))
    }

    fn name(&self) -> &'static str {
        match self {
            Opt::Pad1(_) => "Pad1",
            Opt::PadN(_) => "PadN",
            Opt::Bra(_) => "BindingRefreshAdvice",
            Opt::AltCoa(_) => "AlternateCareOfAddress",
            Opt::Nonce(_) => "NonceIndices",
            Opt::Auth(_) => "BindingAuthorizationData",
            Opt::Mnid(_) => "MobileNodeIdentifier",
            Opt::V4Hoa(_) => "Ipv4HomeAddress",
            Opt::V4Ack(_) => "Ipv4AddressAcknowledgement",
            Opt::Natd(_) => "NatDetection",
            Opt::V4Coa(_) => "Ipv4CareOfAddress",
            Opt::Bid(_) => "BindingIdentifier",
            Opt::FlowSum(_) => "FlowSummary",
            Opt::FlowId(_) => "FlowIdentification",
            Opt::Unknown(_) => "UnknownOption",
        }
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        each_opt!(self, x => Ok(Bound::new(py, x.clone())?.into_any()))
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("option", self.name())?;
        let fields = each_opt!(self, x => x.to_dict(py)?);
        d.update(fields.as_mapping())?;
        Ok(d)
    }

    fn repr(&self) -> MOpt<'_> {
        match self {
            Opt::Pad1(_) => MOpt::Pad1,
            Opt::PadN(x) => MOpt::PadN(x.length),
            Opt::Bra(x) => MOpt::BindingRefreshAdvice {
                refresh_interval_4s: x.refresh_interval_4s,
            },
            Opt::AltCoa(x) => MOpt::AlternateCareOfAddress(x.address.0),
            Opt::Nonce(x) => MOpt::NonceIndices {
                home_nonce_index: x.home_nonce_index,
                care_of_nonce_index: x.care_of_nonce_index,
            },
            Opt::Auth(x) => MOpt::BindingAuthorizationData(&x.authenticator),
            Opt::Mnid(x) => MOpt::MobileNodeIdentifier {
                subtype: x.subtype,
                identifier: &x.identifier,
            },
            Opt::V4Hoa(x) => MOpt::Ipv4HomeAddress {
                prefix_len: x.prefix_len,
                p: x.p,
                address: x.address.0,
            },
            Opt::V4Ack(x) => MOpt::Ipv4AddressAcknowledgement {
                status: x.status,
                prefix_len: x.prefix_len,
                address: x.address.0,
            },
            Opt::Natd(x) => MOpt::NatDetection {
                f: x.f,
                refresh_time: x.refresh_time,
            },
            Opt::V4Coa(x) => MOpt::Ipv4CareOfAddress(x.address.0),
            Opt::Bid(x) => MOpt::BindingIdentifier {
                bid: x.bid,
                status: x.status,
                h: x.h,
                care_of_address: x.care_of_address.map(|a| a.0),
            },
            // FlowSummary keeps its identifiers as integers; the wire form is built on emit.
            Opt::FlowSum(_) => MOpt::FlowSummary(&[]),
            Opt::FlowId(x) => MOpt::FlowIdentification {
                fid: x.fid,
                fid_pri: x.fid_pri,
                status: x.status,
                sub_options: &x.sub_options,
            },
            Opt::Unknown(x) => MOpt::Unknown {
                option_type: x.option_type,
                data: &x.data,
            },
        }
    }

    fn from_repr(r: &MOpt<'_>) -> Opt {
        match *r {
            MOpt::Pad1 => Opt::Pad1(Pad1 {}),
            MOpt::PadN(length) => Opt::PadN(PadN { length }),
            MOpt::BindingRefreshAdvice {
                refresh_interval_4s,
            } => Opt::Bra(BindingRefreshAdvice {
                refresh_interval_4s,
            }),
            MOpt::AlternateCareOfAddress(a) => {
                Opt::AltCoa(AlternateCareOfAddress { address: A6(a) })
            }
            MOpt::NonceIndices {
                home_nonce_index,
                care_of_nonce_index,
            } => Opt::Nonce(NonceIndices {
                home_nonce_index,
                care_of_nonce_index,
            }),
            MOpt::BindingAuthorizationData(a) => Opt::Auth(BindingAuthorizationData {
                authenticator: a.to_vec(),
            }),
            MOpt::MobileNodeIdentifier {
                subtype,
                identifier,
            } => Opt::Mnid(MobileNodeIdentifier {
                subtype,
                identifier: identifier.to_vec(),
            }),
            MOpt::Ipv4HomeAddress {
                prefix_len,
                p,
                address,
            } => Opt::V4Hoa(Ipv4HomeAddress {
                address: A4(address),
                prefix_len,
                p,
            }),
            MOpt::Ipv4AddressAcknowledgement {
                status,
                prefix_len,
                address,
            } => Opt::V4Ack(Ipv4AddressAcknowledgement {
                status,
                prefix_len,
                address: A4(address),
            }),
            MOpt::NatDetection { f, refresh_time } => Opt::Natd(NatDetection { f, refresh_time }),
            MOpt::Ipv4CareOfAddress(a) => Opt::V4Coa(Ipv4CareOfAddress { address: A4(a) }),
            MOpt::BindingIdentifier {
                bid,
                status,
                h,
                care_of_address,
            } => Opt::Bid(BindingIdentifier {
                bid,
                status,
                h,
                care_of_address: care_of_address.map(IpA),
            }),
            MOpt::FlowSummary(f) => Opt::FlowSum(FlowSummary {
                flow_ids: f
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect(),
            }),
            MOpt::FlowIdentification {
                fid,
                fid_pri,
                status,
                sub_options,
            } => Opt::FlowId(FlowIdentification {
                fid,
                fid_pri,
                status,
                sub_options: sub_options.to_vec(),
            }),
            MOpt::Unknown { option_type, data } => Opt::Unknown(UnknownOption {
                option_type,
                data: data.to_vec(),
            }),
        }
    }
}

/// A message's options: any iterable of option objects in, a tuple out.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct Opts(pub Vec<Opt>);

impl<'a, 'py> FromPyObject<'a, 'py> for Opts {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(t) = obj.cast::<PyTuple>() {
            return t
                .iter()
                .map(|o| Opt::extract(&o))
                .collect::<PyResult<_>>()
                .map(Opts);
        }
        if let Ok(l) = obj.cast::<PyList>() {
            return l
                .iter()
                .map(|o| Opt::extract(&o))
                .collect::<PyResult<_>>()
                .map(Opts);
        }
        obj.try_iter()?
            .map(|o| Opt::extract(&o?))
            .collect::<PyResult<_>>()
            .map(Opts)
    }
}

impl<'py> IntoPyObject<'py> for Opts {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let items = self
            .0
            .iter()
            .map(|o| o.to_py(py))
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }
}

impl DictValue for Opts {
    fn dict_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .0
            .iter()
            .map(|o| o.dict(py))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
}

impl Opts {
    /// The parsed options without Pad1/PadN: padding is layout, which `build` recomputes
    /// (the octets as received stay available from `Packet.to_bytes()`).
    fn from_wire(o: &MobilityOptions<'_>) -> Opts {
        Opts(
            o.iter()
                .filter(|r| !r.is_pad())
                .map(|r| Opt::from_repr(&r))
                .collect(),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Mobility messages (RFC 6275 §6.1, RFC 5142 §4, RFC 5846 §5).

record! {
    /// Binding Update (MH Type 5, RFC 6275 §6.1.7; flags per wire-mobility.md §4.2).
    BindingUpdate (sequence, lifetime_4s, *, a=false, h=false, l=false, k=false, m=false,
                   r=false, p=false, f=false, t=false, o=false, reserved=0, options=Opts::default()) {
        sequence: u16, lifetime_4s: u16, a: bool, h: bool, l: bool, k: bool, m: bool, r: bool,
        p: bool, f: bool, t: bool, o: bool, reserved: u8, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            5
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingUpdate {
    fn validate(&self) -> PyResult<()> {
        check(
            u16::from(self.reserved) & !bu_flags::RESERVED == 0,
            "reserved must fit the 6 low bits",
        )
    }
}
impl BindingUpdate {
    fn flags(&self) -> u16 {
        use bu_flags::*;
        let bit = |on: bool, b: u16| if on { b } else { 0 };
        (u16::from(self.reserved) & RESERVED)
            | bit(self.a, A)
            | bit(self.h, H)
            | bit(self.l, L)
            | bit(self.k, K)
            | bit(self.m, M)
            | bit(self.r, R)
            | bit(self.p, P)
            | bit(self.f, F)
            | bit(self.t, T)
            | bit(self.o, O)
    }
}

record! {
    /// Binding Acknowledgement (MH Type 6, RFC 6275 §6.1.8).
    BindingAcknowledgement (status, sequence, lifetime_4s, *, k=false, r=false, p=false, t=false,
                            reserved=0, options=Opts::default()) {
        status: u8, sequence: u16, lifetime_4s: u16, k: bool, r: bool, p: bool, t: bool,
        reserved: u8, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            6
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingAcknowledgement {
    fn validate(&self) -> PyResult<()> {
        check(
            self.reserved & !ba_flags::RESERVED == 0,
            "reserved must fit the 4 low bits",
        )
    }
}
impl BindingAcknowledgement {
    fn flags(&self) -> u8 {
        use ba_flags::*;
        let mut w = self.reserved & RESERVED;
        for (on, bit) in [(self.k, K), (self.r, R), (self.p, P), (self.t, T)] {
            if on {
                w |= bit;
            }
        }
        w
    }
}

record! {
    /// Binding Error (MH Type 7, RFC 6275 §6.1.9): 1 unknown binding, 2 unrecognized MH Type.
    BindingError (status, home_address, options=Opts::default()) {
        status: u8, home_address: A6, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            7
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingError {}

record! {
    /// Binding Refresh Request (MH Type 0, RFC 6275 §6.1.2).
    BindingRefreshRequest (options=Opts::default()) { options: Opts }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            0
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingRefreshRequest {}

record! {
    /// Home Agent Switch (MH Type 12, RFC 5142 §4): the home agents to switch to (may be empty).
    HomeAgentSwitch (home_agent_addresses, options=Opts::default()) {
        home_agent_addresses: Vec<A6>, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            12
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for HomeAgentSwitch {
    fn validate(&self) -> PyResult<()> {
        check(
            self.home_agent_addresses.len() <= 127,
            "at most 127 home agent addresses",
        )
    }
}

record! {
    /// Binding Revocation Indication (MH Type 16, B.R. Type 1, RFC 5846 §5.1).
    BindingRevocationIndication (revocation_trigger, sequence, *, p=false, v=false, g=false,
                                 options=Opts::default()) {
        revocation_trigger: u8, sequence: u16, p: bool, v: bool, g: bool, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            16
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingRevocationIndication {}

record! {
    /// Binding Revocation Acknowledgement (MH Type 16, B.R. Type 2, RFC 5846 §5.2).
    BindingRevocationAcknowledgement (status, sequence, *, p=false, v=false, g=false,
                                      options=Opts::default()) {
        status: u8, sequence: u16, p: bool, v: bool, g: bool, options: Opts
    }
    methods {
        /// The MH Type value.
        #[getter]
        fn mh_type(&self) -> u8 {
            16
        }

        /// The Mobility Header alone: padded, Header Len set, checksum computed over the
        /// pseudo-header `src` -> `dst` (pass the home address / home agent per RFC 6275 §6.1.1).
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for BindingRevocationAcknowledgement {}

record! {
    /// A Mobility Header whose type this codec does not decode; `data` is everything after the
    /// checksum (zero-padded to a multiple of 8 on emit).
    UnknownMobilityMessage (mh_type, data) { mh_type: u8, data: Vec<u8> }
    methods {
        fn to_bytes<'py>(&self, py: Python<'py>, src: A6, dst: A6) -> PyResult<Bound<'py, PyBytes>> {
            Msg::from(self).mh_bytes(py, &src.0, &dst.0)
        }
    }
}
impl Validate for UnknownMobilityMessage {
    fn validate(&self) -> PyResult<()> {
        check(
            self.data.len() <= 2042,
            "data longer than a Mobility Header can be",
        )
    }
}

fn br_word(p: bool, v: bool, g: bool) -> u16 {
    (if p { br_flags::P } else { 0 })
        | (if v { br_flags::V } else { 0 })
        | (if g { br_flags::G } else { 0 })
}

/// Any mobility message, borrowed from a Python object or owned (after parsing).
#[derive(Clone, PartialEq, Debug)]
pub enum Msg<'a> {
    Bu(Cow<'a, BindingUpdate>),
    Ba(Cow<'a, BindingAcknowledgement>),
    Be(Cow<'a, BindingError>),
    Brr(Cow<'a, BindingRefreshRequest>),
    Has(Cow<'a, HomeAgentSwitch>),
    Bri(Cow<'a, BindingRevocationIndication>),
    Bra(Cow<'a, BindingRevocationAcknowledgement>),
    Unknown(Cow<'a, UnknownMobilityMessage>),
}

macro_rules! msg_from {
    ($($cls:ident => $var:ident),*) => {$(
        impl From<$cls> for Msg<'static> {
            fn from(x: $cls) -> Msg<'static> { Msg::$var(Cow::Owned(x)) }
        }
        impl<'a> From<&'a $cls> for Msg<'a> {
            fn from(x: &'a $cls) -> Msg<'a> { Msg::$var(Cow::Borrowed(x)) }
        }
    )*};
}
msg_from!(BindingUpdate => Bu, BindingAcknowledgement => Ba, BindingError => Be,
          BindingRefreshRequest => Brr, HomeAgentSwitch => Has,
          BindingRevocationIndication => Bri, BindingRevocationAcknowledgement => Bra,
          UnknownMobilityMessage => Unknown);

macro_rules! each_msg {
    ($m:expr, $x:ident => $body:expr) => {
        match $m {
            Msg::Bu($x) => $body,
            Msg::Ba($x) => $body,
            Msg::Be($x) => $body,
            Msg::Brr($x) => $body,
            Msg::Has($x) => $body,
            Msg::Bri($x) => $body,
            Msg::Bra($x) => $body,
            Msg::Unknown($x) => $body,
        }
    };
}

impl<'a> Msg<'a> {
    fn extract(o: &'a Bound<'_, PyAny>) -> Option<Msg<'a>> {
        macro_rules! try_cast {
            ($($cls:ident => $var:ident),*) => {$(
                if let Some(x) = exact::<$cls>(o) {
                    return Some(Msg::$var(Cow::Borrowed(x.get())));
                }
            )*};
        }
        try_cast!(BindingUpdate => Bu, BindingAcknowledgement => Ba, BindingError => Be,
                  BindingRefreshRequest => Brr, HomeAgentSwitch => Has,
                  BindingRevocationIndication => Bri, BindingRevocationAcknowledgement => Bra,
                  UnknownMobilityMessage => Unknown);
        None
    }

    fn name(&self) -> &'static str {
        match self {
            Msg::Bu(_) => "BindingUpdate",
            Msg::Ba(_) => "BindingAcknowledgement",
            Msg::Be(_) => "BindingError",
            Msg::Brr(_) => "BindingRefreshRequest",
            Msg::Has(_) => "HomeAgentSwitch",
            Msg::Bri(_) => "BindingRevocationIndication",
            Msg::Bra(_) => "BindingRevocationAcknowledgement",
            Msg::Unknown(_) => "UnknownMobilityMessage",
        }
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        each_msg!(self, x => Ok(Bound::new(py, x.clone().into_owned())?.into_any()))
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        each_msg!(self, x => x.to_dict(py))
    }

    #[inline]
    fn options(&self) -> Option<&Opts> {
        match self {
            Msg::Bu(x) => Some(&x.options),
            Msg::Ba(x) => Some(&x.options),
            Msg::Be(x) => Some(&x.options),
            Msg::Brr(x) => Some(&x.options),
            Msg::Has(x) => Some(&x.options),
            Msg::Bri(x) => Some(&x.options),
            Msg::Bra(x) => Some(&x.options),
            Msg::Unknown(_) => None,
        }
    }

    fn has_len(&self) -> usize {
        match self {
            Msg::Has(x) => x.home_agent_addresses.len() * 16,
            _ => 0,
        }
    }

    /// Octets the wire representation borrows: HAS addresses, then Flow Summary identifiers
    /// (empty, without allocating, for every other message).
    #[inline]
    fn scratch(&self) -> Vec<u8> {
        let mut s: Vec<u8> = match self {
            Msg::Has(x) => x
                .home_agent_addresses
                .iter()
                .flat_map(|a| a.0.octets())
                .collect(),
            _ => Vec::new(),
        };
        if let Some(opts) = self.options() {
            for o in &opts.0 {
                if let Opt::FlowSum(f) = o {
                    s.extend(f.flow_ids.iter().flat_map(|v| v.to_be_bytes()));
                }
            }
        }
        s
    }

    /// The options' wire representations (borrowing from `self` and `scratch`).
    fn opt_reprs<'s>(&'s self, scratch: &'s [u8]) -> SmallVec<[MOpt<'s>; 4]> {
        let mut out = SmallVec::new();
        self.each_opt_repr(scratch, |r| {
            out.push(r);
            Some(())
        });
        out
    }

    /// Hand each option's wire representation to `f`, in order; stops at the first `None`.
    #[inline(always)]
    fn each_opt_repr<'s>(
        &'s self,
        scratch: &'s [u8],
        mut f: impl FnMut(MOpt<'s>) -> Option<()>,
    ) -> Option<()> {
        let Some(opts) = self.options() else {
            return Some(());
        };
        let mut at = self.has_len();
        for o in &opts.0 {
            f(match o {
                Opt::FlowSum(fs) => {
                    let n = fs.flow_ids.len() * 2;
                    let r = MOpt::FlowSummary(&scratch[at..at + n]);
                    at += n;
                    r
                }
                _ => o.repr(),
            })?;
        }
        Some(())
    }

    /// The message's fixed part (borrowing HAS addresses from `scratch`).
    fn message<'s>(&'s self, scratch: &'s [u8]) -> MhMessage<'s> {
        match self {
            Msg::Bu(x) => MhMessage::BindingUpdate {
                sequence: x.sequence,
                flags: x.flags(),
                lifetime_4s: x.lifetime_4s,
            },
            Msg::Ba(x) => MhMessage::BindingAcknowledgement {
                status: x.status,
                flags: x.flags(),
                sequence: x.sequence,
                lifetime_4s: x.lifetime_4s,
            },
            Msg::Be(x) => MhMessage::BindingError {
                status: x.status,
                home_address: x.home_address.0,
            },
            Msg::Brr(_) => MhMessage::BindingRefreshRequest,
            Msg::Has(_) => MhMessage::HomeAgentSwitch {
                addresses: &scratch[..self.has_len()],
            },
            Msg::Bri(x) => MhMessage::BindingRevocationIndication {
                revocation_trigger: x.revocation_trigger,
                sequence: x.sequence,
                flags: br_word(x.p, x.v, x.g),
            },
            Msg::Bra(x) => MhMessage::BindingRevocationAcknowledgement {
                status: x.status,
                sequence: x.sequence,
                flags: br_word(x.p, x.v, x.g),
            },
            Msg::Unknown(x) => MhMessage::Unknown {
                mh_type: x.mh_type,
                data: &x.data,
            },
        }
    }

    fn mh_bytes<'py>(
        &self,
        py: Python<'py>,
        src: &Ipv6Addr,
        dst: &Ipv6Addr,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let scratch = self.scratch();
        let reprs = self.opt_reprs(&scratch);
        let r = MobilityRepr {
            message: self.message(&scratch),
            options: MobilityOptions::List(&reprs),
        };
        let n = r.buffer_len();
        if n > 2048 {
            return Err(PyValueError::new_err(
                "Mobility Header longer than 2048 octets",
            ));
        }
        PyBytes::new_with(py, n, |buf| {
            r.emit(buf, src, dst);
            Ok(())
        })
    }

    fn from_repr(r: &MobilityRepr<'_>) -> Msg<'static> {
        let options = Opts::from_wire(&r.options);
        let brw = |w: u16| {
            (
                w & br_flags::P != 0,
                w & br_flags::V != 0,
                w & br_flags::G != 0,
            )
        };
        match r.message {
            MhMessage::BindingRefreshRequest => {
                Msg::Brr(Cow::Owned(BindingRefreshRequest { options }))
            }
            MhMessage::BindingUpdate {
                sequence,
                flags,
                lifetime_4s,
            } => {
                use bu_flags::*;
                Msg::Bu(Cow::Owned(BindingUpdate {
                    sequence,
                    lifetime_4s,
                    a: flags & A != 0,
                    h: flags & H != 0,
                    l: flags & L != 0,
                    k: flags & K != 0,
                    m: flags & M != 0,
                    r: flags & R != 0,
                    p: flags & P != 0,
                    f: flags & F != 0,
                    t: flags & T != 0,
                    o: flags & O != 0,
                    reserved: (flags & RESERVED) as u8,
                    options,
                }))
            }
            MhMessage::BindingAcknowledgement {
                status,
                flags,
                sequence,
                lifetime_4s,
            } => {
                use ba_flags::*;
                Msg::Ba(Cow::Owned(BindingAcknowledgement {
                    status,
                    sequence,
                    lifetime_4s,
                    k: flags & K != 0,
                    r: flags & R != 0,
                    p: flags & P != 0,
                    t: flags & T != 0,
                    reserved: flags & RESERVED,
                    options,
                }))
            }
            MhMessage::BindingError {
                status,
                home_address,
            } => Msg::Be(Cow::Owned(BindingError {
                status,
                home_address: A6(home_address),
                options,
            })),
            MhMessage::HomeAgentSwitch { .. } => Msg::Has(Cow::Owned(HomeAgentSwitch {
                home_agent_addresses: r.message.home_agent_addresses().map(A6).collect(),
                options,
            })),
            MhMessage::BindingRevocationIndication {
                revocation_trigger,
                sequence,
                flags,
            } => {
                let (p, v, g) = brw(flags);
                Msg::Bri(Cow::Owned(BindingRevocationIndication {
                    revocation_trigger,
                    sequence,
                    p,
                    v,
                    g,
                    options,
                }))
            }
            MhMessage::BindingRevocationAcknowledgement {
                status,
                sequence,
                flags,
            } => {
                let (p, v, g) = brw(flags);
                Msg::Bra(Cow::Owned(BindingRevocationAcknowledgement {
                    status,
                    sequence,
                    p,
                    v,
                    g,
                    options,
                }))
            }
            MhMessage::Unknown { mh_type, data } => {
                Msg::Unknown(Cow::Owned(UnknownMobilityMessage {
                    mh_type,
                    data: data.to_vec(),
                }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Packet layers.

record! {
    /// The IPv6 fixed header (RFC 8200 §3); next header and payload length are filled by `build`.
    Ipv6Header (src, dst, *, hop_limit=64, traffic_class=0, flow_label=0) {
        src: A6, dst: A6, hop_limit: u8, traffic_class: u8, flow_label: u32
    }
    methods {}
}
impl Validate for Ipv6Header {
    fn validate(&self) -> PyResult<()> {
        check(self.flow_label <= 0xfffff, "flow_label is 20 bits")
    }
}

record! {
    /// The Home Address destination option (RFC 6275 §6.3).
    HomeAddressOption (address) { address: A6 }
    methods {}
}
impl Validate for HomeAddressOption {}

/// An IPv6 destination option, owned.
#[derive(Clone, PartialEq, Debug)]
pub enum V6Opt {
    Pad1,
    PadN(u8),
    Hao(HomeAddressOption),
    Unknown(UnknownOption),
}

#[derive(Clone, PartialEq, Debug)]
pub struct V6Opts(pub Vec<V6Opt>);

impl<'a, 'py> FromPyObject<'a, 'py> for V6Opts {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        let mut v = Vec::new();
        for o in obj.try_iter()? {
            let o = o?;
            if let Some(x) = exact::<HomeAddressOption>(&o) {
                v.push(V6Opt::Hao(x.get().clone()));
            } else if o.is_exact_instance_of::<Pad1>() {
                v.push(V6Opt::Pad1);
            } else if let Some(x) = exact::<PadN>(&o) {
                v.push(V6Opt::PadN(x.get().length));
            } else if let Some(x) = exact::<UnknownOption>(&o) {
                v.push(V6Opt::Unknown(x.get().clone()));
            } else {
                return Err(PyTypeError::new_err(format!(
                    "not an IPv6 destination option: {}",
                    o.get_type().name()?
                )));
            }
        }
        Ok(V6Opts(v))
    }
}

impl<'py> IntoPyObject<'py> for V6Opts {
    type Target = PyTuple;
    type Output = Bound<'py, PyTuple>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        let items = self
            .0
            .iter()
            .map(|o| {
                Ok(match o {
                    V6Opt::Pad1 => Bound::new(py, Pad1 {})?.into_any(),
                    V6Opt::PadN(n) => Bound::new(py, PadN { length: *n })?.into_any(),
                    V6Opt::Hao(x) => Bound::new(py, x.clone())?.into_any(),
                    V6Opt::Unknown(x) => Bound::new(py, x.clone())?.into_any(),
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyTuple::new(py, items)
    }
}

impl DictValue for V6Opts {
    fn dict_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self
            .0
            .iter()
            .map(|o| {
                let d = PyDict::new(py);
                match o {
                    V6Opt::Pad1 => d.set_item("option", "Pad1")?,
                    V6Opt::PadN(n) => {
                        d.set_item("option", "PadN")?;
                        d.set_item("length", n)?;
                    }
                    V6Opt::Hao(x) => {
                        d.set_item("option", "HomeAddressOption")?;
                        d.set_item("address", x.address.0.to_string())?;
                    }
                    V6Opt::Unknown(x) => {
                        d.set_item("option", "UnknownOption")?;
                        d.set_item("option_type", x.option_type)?;
                        d.set_item("data", PyBytes::new(py, &x.data))?;
                    }
                }
                Ok(d)
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyList::new(py, items)?.into_any())
    }
}

record! {
    /// A Destination Options header (RFC 8200 §4.6); `build` aligns the HAO at 8n+6 and pads.
    DestinationOptions (options) { options: V6Opts }
    methods {
        /// The address of the Home Address option, or None.
        #[getter]
        fn home_address(&self) -> Option<A6> {
            self.options.0.iter().find_map(|o| match o {
                V6Opt::Hao(h) => Some(h.address),
                _ => None,
            })
        }
    }
}
impl Validate for DestinationOptions {
    fn validate(&self) -> PyResult<()> {
        let n = self
            .options
            .0
            .iter()
            .filter(|o| matches!(o, V6Opt::Hao(_)))
            .count();
        check(n <= 1, "at most one Home Address option (RFC 6275 §6.3)")
    }
}

record! {
    /// The Type 2 Routing header (RFC 6275 §6.4).
    RoutingHeaderType2 (home_address) { home_address: A6 }
    methods {}
}
impl Validate for RoutingHeaderType2 {}

record! {
    /// An option-less, unfragmented IPv4 header (RFC 791); protocol and lengths filled by `build`.
    Ipv4Header (src, dst, *, ttl=64, tos=0, identification=0, dont_fragment=false) {
        src: A4, dst: A4, ttl: u8, tos: u8, identification: u16, dont_fragment: bool
    }
    methods {}
}
impl Validate for Ipv4Header {}

record! {
    /// A UDP header (RFC 768); length and checksum filled by `build`. `zero_checksum` sends no
    /// checksum (IPv4 only).
    UdpHeader (src_port, dst_port, *, zero_checksum=false) {
        src_port: u16, dst_port: u16, zero_checksum: bool
    }
    methods {}
}
impl Validate for UdpHeader {}

record! {
    /// An ESP packet (RFC 4303): SPI, sequence number and the opaque rest (ciphertext + ICV).
    Esp (spi, sequence, data) { spi: u32, sequence: u32, data: Vec<u8> }
    methods {}
}
impl Validate for Esp {
    fn validate(&self) -> PyResult<()> {
        check(self.spi != 0, "SPI 0 is reserved (RFC 4303 §2.1)")
    }
}

record! {
    /// Octets this codec does not decode further. `protocol` is the next-header value that
    /// announces them (None after UDP).
    Raw (data, *, protocol=None) { data: Vec<u8>, protocol: Option<u8> }
    methods {}
}
impl Validate for Raw {}

/// Any layer, borrowed from a Python object or owned (after parsing).
#[derive(Clone, PartialEq, Debug)]
enum PyLayer<'a> {
    Ipv6(Cow<'a, Ipv6Header>),
    DestOpts(Cow<'a, DestinationOptions>),
    Rh2(Cow<'a, RoutingHeaderType2>),
    Ipv4(Cow<'a, Ipv4Header>),
    Udp(Cow<'a, UdpHeader>),
    Esp(Cow<'a, Esp>),
    Raw(Cow<'a, Raw>),
    Msg(Msg<'a>),
}

impl<'a> PyLayer<'a> {
    fn extract(o: &'a Bound<'_, PyAny>) -> PyResult<PyLayer<'a>> {
        macro_rules! try_cast {
            ($($cls:ident => $var:ident),*) => {$(
                if let Some(x) = exact::<$cls>(o) {
                    return Ok(PyLayer::$var(Cow::Borrowed(x.get())));
                }
            )*};
        }
        try_cast!(Ipv6Header => Ipv6, DestinationOptions => DestOpts, RoutingHeaderType2 => Rh2,
                  Ipv4Header => Ipv4, UdpHeader => Udp);
        if let Some(m) = Msg::extract(o) {
            return Ok(PyLayer::Msg(m));
        }
        try_cast!(Esp => Esp, Raw => Raw);
        Err(PyTypeError::new_err(format!(
            "not a packet layer: {}",
            o.get_type().name()?
        )))
    }

    /// The next-header value announcing this layer.
    fn protocol(&self) -> u8 {
        match self {
            PyLayer::Ipv6(_) => IpProtocol::Ipv6.into(),
            PyLayer::DestOpts(_) => IpProtocol::Ipv6Opts.into(),
            PyLayer::Rh2(_) => IpProtocol::Ipv6Route.into(),
            PyLayer::Ipv4(_) => IpProtocol::Ipv4.into(),
            PyLayer::Udp(_) => IpProtocol::Udp.into(),
            PyLayer::Esp(_) => IpProtocol::Esp.into(),
            PyLayer::Raw(r) => r.protocol.unwrap_or(IpProtocol::NoNextHeader.into()),
            PyLayer::Msg(_) => IpProtocol::Mobility.into(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            PyLayer::Ipv6(_) => "Ipv6Header",
            PyLayer::DestOpts(_) => "DestinationOptions",
            PyLayer::Rh2(_) => "RoutingHeaderType2",
            PyLayer::Ipv4(_) => "Ipv4Header",
            PyLayer::Udp(_) => "UdpHeader",
            PyLayer::Esp(_) => "Esp",
            PyLayer::Raw(_) => "Raw",
            PyLayer::Msg(m) => m.name(),
        }
    }

    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self {
            PyLayer::Ipv6(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::DestOpts(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Rh2(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Ipv4(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Udp(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Esp(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Raw(x) => Bound::new(py, x.clone().into_owned())?.into_any(),
            PyLayer::Msg(m) => m.to_py(py)?,
        })
    }

    fn dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        match self {
            PyLayer::Ipv6(x) => x.to_dict(py),
            PyLayer::DestOpts(x) => x.to_dict(py),
            PyLayer::Rh2(x) => x.to_dict(py),
            PyLayer::Ipv4(x) => x.to_dict(py),
            PyLayer::Udp(x) => x.to_dict(py),
            PyLayer::Esp(x) => x.to_dict(py),
            PyLayer::Raw(x) => x.to_dict(py),
            PyLayer::Msg(m) => m.dict(py),
        }
    }

    /// Convert parsed wire layers to owned Python-side layers.
    fn from_wire(layers: &[WLayer<'_>]) -> Vec<PyLayer<'static>> {
        let mut out = Vec::with_capacity(layers.len());
        let mut announced: Option<u8> = None;
        for l in layers {
            let (layer, next) = match l {
                WLayer::Ipv6(r) => (
                    PyLayer::Ipv6(Cow::Owned(Ipv6Header {
                        src: A6(r.src_addr),
                        dst: A6(r.dst_addr),
                        hop_limit: r.hop_limit,
                        traffic_class: r.traffic_class,
                        flow_label: r.flow_label,
                    })),
                    Some(r.next_header.into()),
                ),
                WLayer::Ipv4(r) => (
                    PyLayer::Ipv4(Cow::Owned(Ipv4Header {
                        src: A4(r.src_addr),
                        dst: A4(r.dst_addr),
                        ttl: r.ttl,
                        tos: r.tos,
                        identification: r.identification,
                        dont_fragment: r.dont_fragment,
                    })),
                    Some(r.protocol.into()),
                ),
                WLayer::DestOpts(d) => (
                    PyLayer::DestOpts(Cow::Owned(DestinationOptions {
                        options: V6Opts(
                            d.options()
                                .filter_map(|o| match o {
                                    Ipv6OptionRepr::Pad1 | Ipv6OptionRepr::PadN(_) => None,
                                    Ipv6OptionRepr::HomeAddress(a) => {
                                        Some(V6Opt::Hao(HomeAddressOption { address: A6(a) }))
                                    }
                                    Ipv6OptionRepr::Unknown { option_type, data } => {
                                        Some(V6Opt::Unknown(UnknownOption {
                                            option_type,
                                            data: data.to_vec(),
                                        }))
                                    }
                                })
                                .collect(),
                        ),
                    })),
                    Some(d.next_header.into()),
                ),
                WLayer::Routing2(r) => (
                    PyLayer::Rh2(Cow::Owned(RoutingHeaderType2 {
                        home_address: A6(r.home_address),
                    })),
                    Some(r.next_header.into()),
                ),
                WLayer::Mobility(m) => (PyLayer::Msg(Msg::from_repr(m)), None),
                WLayer::Udp(u) => (
                    PyLayer::Udp(Cow::Owned(UdpHeader {
                        src_port: u.src_port,
                        dst_port: u.dst_port,
                        zero_checksum: u.zero_checksum,
                    })),
                    None,
                ),
                WLayer::Esp(e) => (
                    PyLayer::Esp(Cow::Owned(Esp {
                        spi: e.spi,
                        sequence: e.sequence_number,
                        data: e.data.to_vec(),
                    })),
                    None,
                ),
                WLayer::Raw(r) => (
                    PyLayer::Raw(Cow::Owned(Raw {
                        data: r.to_vec(),
                        protocol: announced,
                    })),
                    None,
                ),
            };
            out.push(layer);
            announced = next;
        }
        out
    }
}

/// Lay out `layers` into bytes.
fn build_layers<'py>(py: Python<'py>, layers: &[PyLayer<'_>]) -> PyResult<Bound<'py, PyBytes>> {
    if layers.is_empty() || layers.len() > MAX_LAYERS {
        return Err(PyValueError::new_err(format!(
            "build needs 1..{MAX_LAYERS} layers"
        )));
    }
    // Storage the wire representations borrow from. A message is only accepted as the last
    // layer (checked below), so only that one needs its option representations.
    let last_msg = match layers.last() {
        Some(PyLayer::Msg(m)) => Some(m),
        _ => None,
    };
    let scratch: Vec<u8> = last_msg.map(|m| m.scratch()).unwrap_or_default();
    let mopts: SmallVec<[MOpt<'_>; 4]> =
        last_msg.map(|m| m.opt_reprs(&scratch)).unwrap_or_default();
    // The options of every Destination Options layer in one list, each layer taking its range.
    let mut v6opts: SmallVec<[Ipv6OptionRepr<'_>; 4]> = SmallVec::new();
    let mut v6ranges: SmallVec<[(usize, usize); 2]> = SmallVec::new();
    for l in layers {
        if let PyLayer::DestOpts(d) = l {
            let first = v6opts.len();
            v6opts.extend(d.options.0.iter().map(v6_repr));
            v6ranges.push((first, v6opts.len()));
        }
    }
    let mut wl: SmallVec<[WLayer<'_>; 4]> = SmallVec::new();
    let mut di = 0;
    for (i, l) in layers.iter().enumerate() {
        let next: IpProtocol = layers
            .get(i + 1)
            .map(|n| IpProtocol::from(n.protocol()))
            .unwrap_or(IpProtocol::NoNextHeader);
        let inner_ok = |ok: bool| {
            if ok {
                Ok(())
            } else {
                Err(PyValueError::new_err(format!(
                    "{} cannot follow the layers before it",
                    l.name()
                )))
            }
        };
        let prev = if i == 0 { None } else { layers.get(i - 1) };
        let after_ip6 = matches!(
            prev,
            Some(PyLayer::Ipv6(_) | PyLayer::DestOpts(_) | PyLayer::Rh2(_))
        );
        match l {
            PyLayer::Ipv6(h) => {
                inner_ok(
                    i == 0
                        || matches!(prev, Some(PyLayer::Udp(_)))
                        || after_ip6
                        || matches!(prev, Some(PyLayer::Ipv4(_))),
                )?;
                wl.push(WLayer::Ipv6(Ipv6Repr {
                    src_addr: h.src.0,
                    dst_addr: h.dst.0,
                    next_header: next,
                    payload_len: 0,
                    hop_limit: h.hop_limit,
                    traffic_class: h.traffic_class,
                    flow_label: h.flow_label,
                }))
            }
            PyLayer::Ipv4(h) => {
                inner_ok(
                    i == 0 || matches!(prev, Some(PyLayer::Udp(_) | PyLayer::Ipv4(_))) || after_ip6,
                )?;
                wl.push(WLayer::Ipv4(Ipv4Repr {
                    src_addr: h.src.0,
                    dst_addr: h.dst.0,
                    protocol: next,
                    payload_len: 0,
                    ttl: h.ttl,
                    tos: h.tos,
                    identification: h.identification,
                    dont_fragment: h.dont_fragment,
                }))
            }
            PyLayer::DestOpts(_) => {
                inner_ok(after_ip6)?;
                let (first, end) = v6ranges[di];
                wl.push(WLayer::DestOpts(DestOptsRepr {
                    next_header: next,
                    options: Ipv6Options::List(&v6opts[first..end]),
                }));
                di += 1;
            }
            PyLayer::Rh2(r) => {
                inner_ok(after_ip6)?;
                wl.push(WLayer::Routing2(RoutingHeader2Repr {
                    next_header: next,
                    home_address: r.home_address.0,
                }))
            }
            PyLayer::Msg(m) => {
                inner_ok(after_ip6 && i + 1 == layers.len())?;
                // Its length (at most 2048) is checked once laid out, below.
                wl.push(WLayer::Mobility(MobilityRepr {
                    message: m.message(&scratch),
                    options: MobilityOptions::List(&mopts),
                }));
            }
            PyLayer::Udp(u) => {
                inner_ok(after_ip6 || matches!(prev, Some(PyLayer::Ipv4(_))))?;
                wl.push(WLayer::Udp(UdpRepr {
                    src_port: u.src_port,
                    dst_port: u.dst_port,
                    zero_checksum: u.zero_checksum,
                }))
            }
            PyLayer::Esp(e) => {
                inner_ok(i > 0 && i + 1 == layers.len())?;
                wl.push(WLayer::Esp(EspRepr {
                    spi: e.spi,
                    sequence_number: e.sequence,
                    data: &e.data,
                }))
            }
            PyLayer::Raw(r) => {
                inner_ok(i > 0 && i + 1 == layers.len())?;
                wl.push(WLayer::Raw(&r.data))
            }
        }
    }
    // Every length is computed once, here, and reused by the emitter.
    let laid = LaidOut::new(&wl).ok_or_else(|| PyValueError::new_err("too many layers"))?;
    if let (Some(WLayer::Mobility(_)), Some(&n)) = (wl.last(), laid.lens().last()) {
        if n > 2048 {
            return Err(PyValueError::new_err(
                "Mobility Header longer than 2048 octets",
            ));
        }
    }
    if !matches!(wl[0], WLayer::Ipv6(_) | WLayer::Ipv4(_)) {
        return Err(PyValueError::new_err(
            "a packet starts with Ipv6Header or Ipv4Header",
        ));
    }
    emit_bytes(py, &laid)
}

/// Emit laid-out layers straight into a new `bytes` of their final size (one allocation, no
/// copy). Shared by `build` and the HA's BA builder (`mhfast.ba_packet`).
pub(crate) fn emit_bytes<'py>(
    py: Python<'py>,
    laid: &LaidOut<'_, '_>,
) -> PyResult<Bound<'py, PyBytes>> {
    let n = laid.total();
    if n > 65535 + 40 {
        return Err(PyValueError::new_err("packet too long"));
    }
    let mut failure = None;
    let b = PyBytes::new_with(py, n, |buf| {
        if let Err(e) = laid.emit(buf) {
            failure = Some(e);
        }
        Ok(())
    })?;
    match failure {
        Some(e) => Err(PyValueError::new_err(format!("cannot build: {e}"))),
        None => Ok(b),
    }
}

/// At most `N` copyable items on the stack, without initialising the unused slots. The
/// signalling fast path's lists are short (one HAO, a few mobility options); a longer one sends
/// the call to the general path, which gives the same octets.
struct Few<T: Copy, const N: usize> {
    items: [std::mem::MaybeUninit<T>; N],
    len: usize,
}

impl<T: Copy, const N: usize> Few<T, N> {
    #[inline(always)]
    fn new() -> Self {
        Few {
            items: [const { std::mem::MaybeUninit::uninit() }; N],
            len: 0,
        }
    }
    #[inline(always)]
    fn push(&mut self, v: T) -> Option<()> {
        self.items.get_mut(self.len)?.write(v);
        self.len += 1;
        Some(())
    }
    #[inline(always)]
    fn as_slice(&self) -> &[T] {
        let init = &self.items[..self.len.min(N)];
        // SAFETY: the first `len` slots were written by `push` (`len` never exceeds N), and
        // `MaybeUninit<T>` has the layout of `T`.
        unsafe { std::slice::from_raw_parts(init.as_ptr().cast::<T>(), init.len()) }
    }
}

/// A layer between the IPv6 header and the Mobility Header.
#[derive(Clone, Copy)]
enum ExtHeader<'a> {
    DestOpts(&'a DestinationOptions),
    Rh2(&'a RoutingHeaderType2),
}

/// An extension header ready to emit: the range of its options in the shared option list
/// (Destination Options) or its repr, and its length.
#[derive(Clone, Copy)]
enum ExtOut {
    DestOpts(IpProtocol, usize, usize),
    Rh2(RoutingHeader2Repr),
}

/// The IPv6 option representation of a Destination Options option.
#[inline]
fn v6_repr(o: &V6Opt) -> Ipv6OptionRepr<'_> {
    match o {
        V6Opt::Pad1 => Ipv6OptionRepr::Pad1,
        V6Opt::PadN(n) => Ipv6OptionRepr::PadN(*n),
        V6Opt::Hao(h) => Ipv6OptionRepr::HomeAddress(h.address.0),
        V6Opt::Unknown(u) => Ipv6OptionRepr::Unknown {
            option_type: u.option_type,
            data: &u.data,
        },
    }
}

/// Type objects of the classes the signalling fast path tells apart, looked up once at import:
/// a test is then one pointer comparison instead of pyo3's lazily initialised type lookup.
struct SigTypes {
    ipv6: usize,
    dest_opts: usize,
    rh2: usize,
    msgs: [usize; 8],
}

static SIG_TYPES: OnceLock<SigTypes> = OnceLock::new();

fn sig_types(py: Python<'_>) -> SigTypes {
    fn t<T: PyTypeInfo>(py: Python<'_>) -> usize {
        T::type_object_raw(py) as usize
    }
    SigTypes {
        ipv6: t::<Ipv6Header>(py),
        dest_opts: t::<DestinationOptions>(py),
        rh2: t::<RoutingHeaderType2>(py),
        msgs: [
            t::<BindingUpdate>(py),
            t::<BindingAcknowledgement>(py),
            t::<BindingError>(py),
            t::<BindingRefreshRequest>(py),
            t::<HomeAgentSwitch>(py),
            t::<BindingRevocationIndication>(py),
            t::<BindingRevocationAcknowledgement>(py),
            t::<UnknownMobilityMessage>(py),
        ],
    }
}

/// `o`'s value if its type is exactly `T`, whose type object is `ty`.
#[inline(always)]
fn exact_cached<'a, T: pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::True> + Sync>(
    o: &'a Bound<'_, PyAny>,
    ty: usize,
) -> Option<&'a T> {
    if o.get_type_ptr() as usize == ty {
        // SAFETY: `ty` is the type object of `T` and `o`'s type is exactly it.
        Some(unsafe { o.cast_unchecked::<T>() }.get())
    } else {
        None
    }
}

impl<'a> Msg<'a> {
    /// As [`Msg::extract`], with the cached type objects.
    #[inline]
    fn extract_cached(o: &'a Bound<'_, PyAny>, t: &SigTypes) -> Option<Msg<'a>> {
        let p = o.get_type_ptr() as usize;
        let i = t.msgs.iter().position(|&m| m == p)?;
        macro_rules! pick {
            ($($n:literal => $cls:ident => $var:ident),*) => {
                match i {
                    $($n => Some(Msg::$var(Cow::Borrowed(exact_cached::<$cls>(o, t.msgs[$n])?))),)*
                    _ => None,
                }
            };
        }
        pick!(0 => BindingUpdate => Bu, 1 => BindingAcknowledgement => Ba, 2 => BindingError => Be,
              3 => BindingRefreshRequest => Brr, 4 => HomeAgentSwitch => Has,
              5 => BindingRevocationIndication => Bri, 6 => BindingRevocationAcknowledgement => Bra,
              7 => UnknownMobilityMessage => Unknown)
    }
}

/// The shape of all Mobile IPv6 signalling — `Ipv6Header`, then any Destination Options and
/// Type 2 Routing headers, then one Mobility Header message — laid out without the general
/// path's layer list and layout table, and written front to back straight into the `bytes`
/// object returned, allocated once at its final size (RFC 6275 §6.1.7: the MH checksum takes
/// the HAO address as source, the RH2 address as destination). `None` when `objs` has another
/// shape or the packet would be refused (an MH over 2048 octets, a payload over 65535): the
/// general path then builds it or raises its error, so both paths give the same octets and the
/// same errors.
fn build_signalling<'py>(
    py: Python<'py>,
    objs: &[Borrowed<'_, 'py, PyAny>],
) -> Option<Bound<'py, PyBytes>> {
    let t = SIG_TYPES.get()?;
    let (first, rest) = objs.split_first()?;
    let (last, mid) = rest.split_last()?;
    let ip = exact_cached::<Ipv6Header>(first, t.ipv6)?;
    let msg = Msg::extract_cached(last, t)?;
    let mut exts: Few<ExtHeader<'_>, 4> = Few::new();
    for o in mid {
        exts.push(
            if let Some(d) = exact_cached::<DestinationOptions>(o, t.dest_opts) {
                ExtHeader::DestOpts(d)
            } else {
                ExtHeader::Rh2(exact_cached::<RoutingHeaderType2>(o, t.rh2)?)
            },
        )?;
    }
    let exts = exts.as_slice();
    let proto = |e: Option<&ExtHeader<'_>>| match e {
        Some(ExtHeader::DestOpts(_)) => IpProtocol::Ipv6Opts,
        Some(ExtHeader::Rh2(_)) => IpProtocol::Ipv6Route,
        None => IpProtocol::Mobility,
    };
    // Lay out: every length once, and the MH checksum's pseudo-header addresses.
    let mut total = ipv6::HEADER_LEN;
    let (mut src, mut dst) = (ip.src.0, ip.dst.0);
    let mut outs: Few<(ExtOut, usize), 4> = Few::new();
    let mut v6opts: Few<Ipv6OptionRepr<'_>, 4> = Few::new();
    for (i, e) in exts.iter().enumerate() {
        let next_header = proto(exts.get(i + 1));
        match e {
            ExtHeader::DestOpts(d) => {
                let first = v6opts.len;
                for o in &d.options.0 {
                    v6opts.push(v6_repr(o))?;
                }
                let r = DestOptsRepr {
                    next_header,
                    options: Ipv6Options::List(v6opts.as_slice().get(first..)?),
                };
                if let Some(a) = r.home_address() {
                    src = a;
                }
                let n = r.buffer_len();
                total += n;
                outs.push((ExtOut::DestOpts(next_header, first, v6opts.len), n))?;
            }
            ExtHeader::Rh2(h) => {
                let r = RoutingHeader2Repr {
                    next_header,
                    home_address: h.home_address.0,
                };
                dst = r.home_address;
                let n = r.buffer_len();
                total += n;
                outs.push((ExtOut::Rh2(r), n))?;
            }
        }
    }
    // Only a HAS message or a Flow Summary option borrows octets from a scratch buffer.
    let needs_scratch = matches!(msg, Msg::Has(_))
        || msg
            .options()
            .is_some_and(|o| o.0.iter().any(|x| matches!(x, Opt::FlowSum(_))));
    let scratch = if needs_scratch {
        msg.scratch()
    } else {
        Vec::new()
    };
    let mut mopts: Few<MOpt<'_>, 6> = Few::new();
    msg.each_opt_repr(&scratch, |r| mopts.push(r))?;
    let m = MobilityRepr {
        message: msg.message(&scratch),
        options: MobilityOptions::List(mopts.as_slice()),
    };
    let mh_len = m.buffer_len();
    if mh_len > 2048 {
        return None;
    }
    total += mh_len;
    let r = Ipv6Repr {
        src_addr: ip.src.0,
        dst_addr: ip.dst.0,
        next_header: proto(exts.first()),
        payload_len: u16::try_from(total - ipv6::HEADER_LEN).ok()?,
        hop_limit: ip.hop_limit,
        traffic_class: ip.traffic_class,
        flow_label: ip.flow_label,
    };
    // Emit into the `bytes` object itself (no intermediate buffer, no copy).
    let short = || PyValueError::new_err("layout mismatch");
    PyBytes::new_with(py, total, |buf| {
        let mut off = ipv6::HEADER_LEN;
        for (e, n) in outs.as_slice() {
            let b = buf.get_mut(off..off + n).ok_or_else(short)?;
            match *e {
                ExtOut::DestOpts(next_header, first, end) => DestOptsRepr {
                    next_header,
                    options: Ipv6Options::List(
                        v6opts.as_slice().get(first..end).ok_or_else(short)?,
                    ),
                }
                .emit(b),
                ExtOut::Rh2(r) => r.emit(b),
            }
            off += n;
        }
        m.emit(
            buf.get_mut(off..off + mh_len).ok_or_else(short)?,
            &src,
            &dst,
        );
        let h = buf.get_mut(..ipv6::HEADER_LEN).ok_or_else(short)?;
        r.emit(&mut Ipv6Packet::new_unchecked(h));
        Ok(())
    })
    .ok()
}

/// Lay out a chain of layers, filling next-header fields, lengths, padding and checksums.
/// The MH checksum uses the HAO address as source and the RH2 address as destination.
#[pyfunction]
fn build<'py>(py: Python<'py>, layers: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let objs: SmallVec<[Bound<'py, PyAny>; 4]> = match layers.cast::<PyList>() {
        // By index: the list iterator asks for the list's length again at every step.
        Ok(l) => (0..l.len())
            .map(|i| l.get_item(i))
            .collect::<PyResult<_>>()?,
        Err(_) => layers.try_iter()?.collect::<PyResult<_>>()?,
    };
    if objs.len() <= MAX_LAYERS {
        let borrowed: SmallVec<[Borrowed<'_, 'py, PyAny>; 4]> =
            objs.iter().map(|o| o.as_borrowed()).collect();
        if let Some(b) = build_signalling(py, &borrowed) {
            return Ok(b);
        }
    }
    let mut v: SmallVec<[PyLayer<'_>; 4]> = SmallVec::new();
    for o in &objs {
        v.push(PyLayer::extract(o)?);
    }
    build_layers(py, &v)
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// A parsed, fully validated packet. Keeps the octets; the layer objects are built on first
/// access of `layers`.
#[pyclass(frozen, freelist = 64, module = "dsmip6._core.wire")]
pub struct Packet {
    data: Py<PyBytes>,
    layers: OnceLock<Py<PyTuple>>,
}

impl Packet {
    fn layer_tuple<'py>(&self, py: Python<'py>) -> PyResult<&Bound<'py, PyTuple>> {
        if let Some(t) = self.layers.get() {
            return Ok(t.bind(py));
        }
        let owned = self.owned_layers(py)?;
        let items = owned
            .iter()
            .map(|l| l.to_py(py))
            .collect::<PyResult<Vec<_>>>()?;
        let t = PyTuple::new(py, items)?.unbind();
        let _ = self.layers.set(t);
        Ok(self.layers.get().expect("just set").bind(py))
    }

    fn owned_layers(&self, py: Python<'_>) -> PyResult<Vec<PyLayer<'static>>> {
        let b = self.data.bind(py).as_bytes();
        let layers = parse_packet(b).map_err(WireError)?;
        Ok(PyLayer::from_wire(layers.as_slice()))
    }
}

#[pymethods]
impl Packet {
    /// The layers, outermost first (a new list each time; the objects are cached).
    #[getter]
    fn layers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let t = self.layer_tuple(py)?;
        PyList::new(py, t.iter())
    }

    /// The first layer that is an instance of `cls`, or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        cls: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        for l in self.layer_tuple(py)?.iter() {
            if l.is_instance(cls)? {
                return Ok(Some(l));
            }
        }
        Ok(None)
    }

    /// `{"layers": [{"layer": name, "fields": {...}}, ...]}`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("layers", self.layer_dicts(py)?)?;
        Ok(d)
    }

    /// `[{"layer": name, "fields": {...}}, ...]` (the shape `dsmip6 decode --json` prints).
    fn layer_dicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let owned = self.owned_layers(py)?;
        let items = owned
            .iter()
            .map(|l| {
                let e = PyDict::new(py);
                e.set_item("layer", l.name())?;
                e.set_item("fields", l.dict(py)?)?;
                Ok(e)
            })
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// The packet's octets (equal to the parsed input).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.data.bind(py).clone()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let owned = self.owned_layers(py)?;
        let names: Vec<&str> = owned.iter().map(PyLayer::name).collect();
        Ok(format!("Packet({})", names.join(" / ")))
    }
}

fn bytes_of<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    match data.cast::<PyBytes>() {
        Ok(b) => Ok(b.clone()),
        Err(_) => {
            let v: Vec<u8> = data.extract()?;
            Ok(PyBytes::new(py, &v))
        }
    }
}

/// Validate `data` as a whole packet (the layers are rebuilt from the octets when asked for).
#[inline]
fn validate(data: &[u8]) -> Result<(), dsmip6_wire::Error> {
    parse_packet_with(data, |_, _| Ok(()))
}

fn parse_one<'py>(b: Bound<'py, PyBytes>) -> PyResult<Bound<'py, Packet>> {
    validate(b.as_bytes()).map_err(WireError)?;
    new_packet(b)
}

/// Parse a whole IPv6 or IPv4 packet; raises MalformedPacket / BadChecksum.
///
/// This is the general entry point; the function registered as `parse` serves the common
/// call (one `bytes` argument that validates) itself and hands every other call to this one.
#[pyfunction]
fn parse<'py>(py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, Packet>> {
    parse_one(bytes_of(py, data)?)
}

/// Parse many packets in one call; the first invalid one raises (its index in the message).
#[pyfunction]
fn parse_batch<'py>(py: Python<'py>, packets: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let mut out: Vec<Bound<'py, Packet>> = Vec::new();
    for (i, p) in packets.try_iter()?.enumerate() {
        let b = bytes_of(py, &p?)?;
        match parse_one(b) {
            Ok(pk) => out.push(pk),
            Err(e) => {
                let v = e.value(py);
                let msg = format!("packet {i}: {v}");
                let args = (
                    msg,
                    v.getattr("offset")?.extract::<Option<usize>>()?,
                    v.getattr("reason")?.extract::<Option<String>>()?,
                );
                return Err(PyErr::from_type(e.get_type(py), args));
            }
        }
    }
    PyList::new(py, out)
}

/// Parse a Mobility Header alone with the pseudo-header `src` -> `dst`.
#[pyfunction]
fn parse_mobility_header<'py>(
    py: Python<'py>,
    data: &Bound<'py, PyAny>,
    src: A6,
    dst: A6,
) -> PyResult<Bound<'py, PyAny>> {
    let b = bytes_of(py, data)?;
    let bytes = b.as_bytes();
    let r = MobilityRepr::parse(&MobilityHeader::new_unchecked(bytes), &src.0, &dst.0)
        .map_err(WireError)?;
    Msg::from_repr(&r).to_py(py)
}

/// `{"layer": name, "fields": {...}}` for a message or layer object (used by the CLI).
#[pyfunction]
fn layer_dict<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let l = PyLayer::extract(obj)?;
    let e = PyDict::new(py);
    e.set_item("layer", l.name())?;
    e.set_item("fields", l.dict(py)?)?;
    Ok(e)
}

// ---------------------------------------------------------------------------------------------
// The per-packet entry points without pyo3's generic call and object-creation machinery.
//
// Callgrind (issue 2, Speed): of ~1700 instructions per `parse(bytes)` call, ~660 were the
// validation and ~700 pyo3's generic parts: the call trampoline and argument descriptions,
// then creating the `Packet` through `object.__new__` and the class's free list. `parse` and
// `build` are therefore registered as plain `METH_FASTCALL` functions that serve the common
// call (one positional argument of the expected exact type, and for `parse` a packet that
// validates) directly, and hand every other call, every error included, to the pyo3 functions
// above: the behaviour, messages and exceptions are those of the general path.

/// How to allocate a `Packet` instance directly: its type and `tp_alloc` slot. Only used when
/// the instance layout is checked (at import) to be the object header followed by the Rust
/// value and nothing else, which is what pyo3 writes for a frozen, `Send` pyclass without
/// `dict`/`weakref` (the other per-instance fields are zero-sized).
struct PacketAlloc {
    ty: Py<PyType>,
    alloc: ffi::allocfunc,
}

static PACKET_ALLOC: OnceLock<Option<PacketAlloc>> = OnceLock::new();

/// Look at how pyo3 laid out a probe `Packet` and decide whether direct allocation is exact.
fn packet_alloc(py: Python<'_>) -> PyResult<Option<PacketAlloc>> {
    let probe = Bound::new(
        py,
        Packet {
            data: PyBytes::new(py, b"").unbind(),
            layers: OnceLock::new(),
        },
    )?;
    let offset = (probe.get() as *const Packet as usize).wrapping_sub(probe.as_ptr() as usize);
    let ty = probe.get_type();
    let basic: usize = ty.getattr("__basicsize__")?.extract()?;
    let item: usize = ty.getattr("__itemsize__")?.extract()?;
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is a live type object (held by `ty`) and we are attached to the interpreter.
    let (flags, slot) = unsafe {
        (
            ffi::PyType_GetFlags(tp),
            ffi::PyType_GetSlot(tp, ffi::Py_tp_alloc),
        )
    };
    // pyo3 makes every pyclass a GC type; its `tp_alloc` (`PyType_GenericAlloc`) then tracks
    // the new object before the value is written, exactly as pyo3's own creation path does.
    let exact_layout = offset == std::mem::size_of::<ffi::PyObject>()
        && basic == offset + std::mem::size_of::<Packet>()
        && item == 0
        && flags & ffi::Py_TPFLAGS_HAVE_GC != 0;
    if !exact_layout || slot.is_null() {
        return Ok(None);
    }
    // SAFETY: the `Py_tp_alloc` slot of a type holds an `allocfunc` (checked non-null).
    let alloc = unsafe { std::mem::transmute::<*mut std::ffi::c_void, ffi::allocfunc>(slot) };
    Ok(Some(PacketAlloc {
        ty: ty.unbind(),
        alloc,
    }))
}

/// A new `Packet` holding `data` (validated by the caller).
fn new_packet(data: Bound<'_, PyBytes>) -> PyResult<Bound<'_, Packet>> {
    match PACKET_ALLOC.get() {
        Some(Some(a)) => new_packet_direct(a, data),
        _ => Bound::new(
            data.py(),
            Packet {
                data: data.unbind(),
                layers: OnceLock::new(),
            },
        ),
    }
}

/// A new `Packet` holding `data`, allocated directly as `a` says.
#[inline]
fn new_packet_direct<'py>(
    a: &PacketAlloc,
    data: Bound<'py, PyBytes>,
) -> PyResult<Bound<'py, Packet>> {
    let py = data.py();
    let value = Packet {
        data: data.unbind(),
        layers: OnceLock::new(),
    };
    let tp = a.ty.as_ptr().cast::<ffi::PyTypeObject>();
    // SAFETY: attached to the interpreter; `alloc` is the type's own `tp_alloc`, which returns
    // a new reference to an instance of `tp` with `tp_basicsize` octets (zeroed) or null with
    // an exception set.
    let obj = unsafe { (a.alloc)(tp, 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `packet_alloc` checked that the instance is the object header followed by exactly
    // the `Packet` value (the remaining per-instance fields being zero-sized), so this is the
    // write pyo3 itself makes when creating the object; the allocation is suitably aligned
    // (object allocators align to 16 octets, the header is 16 octets). `obj` is a new, owned
    // reference of type `Packet`.
    unsafe {
        obj.cast::<u8>()
            .add(std::mem::size_of::<ffi::PyObject>())
            .cast::<Packet>()
            .write(value);
        Ok(Bound::from_owned_ptr(py, obj).cast_into_unchecked())
    }
}

/// The pyo3 function each fast entry point hands its other calls to.
static SLOW_PARSE: OnceLock<Py<PyAny>> = OnceLock::new();
static SLOW_BUILD: OnceLock<Py<PyAny>> = OnceLock::new();

/// Call `slow` with the vectorcall arguments as received, raising what it raises.
///
/// # Safety
/// `args` holds `nargs` positional arguments followed by one value per name in `kwnames` (a
/// tuple or null), as CPython passes them to a `METH_FASTCALL | METH_KEYWORDS` function.
unsafe fn forward(
    slow: &OnceLock<Py<PyAny>>,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    Python::attach(|py| {
        let call = || -> PyResult<Bound<'_, PyAny>> {
            let slow = slow
                .get()
                .ok_or_else(|| PyTypeError::new_err("dsmip6._core.wire is not initialised"))?;
            // SAFETY: per this function's contract.
            let names = unsafe { Borrowed::from_ptr_or_opt(py, kwnames) };
            let names = match names {
                Some(n) => Some(n.cast::<PyTuple>()?.to_owned()),
                None => None,
            };
            let npos = usize::try_from(nargs).unwrap_or(0);
            let total = npos + names.as_ref().map_or(0, |n| n.len());
            let all: &[*mut ffi::PyObject] = if total == 0 || args.is_null() {
                &[]
            } else {
                // SAFETY: per this function's contract, `total` valid object pointers.
                unsafe { std::slice::from_raw_parts(args, total) }
            };
            // SAFETY: each pointer is a live object borrowed for the duration of the call.
            let obj = |p: *mut ffi::PyObject| unsafe { Borrowed::from_ptr(py, p) };
            let pos = PyTuple::new(py, all[..npos].iter().map(|&p| obj(p)))?;
            let kw = match names {
                Some(n) => {
                    let d = PyDict::new(py);
                    for (k, &v) in n.iter().zip(&all[npos..]) {
                        d.set_item(k, obj(v))?;
                    }
                    Some(d)
                }
                None => None,
            };
            slow.bind(py).call(pos, kw.as_ref())
        };
        match call() {
            Ok(r) => r.into_ptr(),
            Err(e) => {
                e.restore(py);
                std::ptr::null_mut()
            }
        }
    })
}

/// The one argument of a plain positional call, if that is what this call is.
///
/// # Safety
/// As [`forward`].
#[inline(always)]
unsafe fn single_arg(
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> Option<*mut ffi::PyObject> {
    if nargs == 1 && kwnames.is_null() && !args.is_null() {
        // SAFETY: one positional argument.
        Some(unsafe { *args })
    } else {
        None
    }
}

/// `parse(data)`: one `bytes` that validates is served here; anything else goes to [`parse`].
unsafe extern "C" fn parse_fast(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython calls a `METH_FASTCALL | METH_KEYWORDS` function attached to the
    // interpreter, with arguments as `single_arg` and `forward` expect.
    unsafe {
        let py = Python::assume_attached();
        // Without the checked layout (`packet_alloc`), every call takes the general path.
        if let (Some(arg), Some(Some(alloc))) =
            (single_arg(args, nargs, kwnames), PACKET_ALLOC.get())
        {
            if ffi::PyBytes_CheckExact(arg) != 0 {
                let b = Borrowed::from_ptr(py, arg).cast_unchecked::<PyBytes>();
                // A panic (a bug) is reported by the general path, which unwinds it into a
                // Python exception.
                let data = b.as_bytes();
                let ok = std::panic::catch_unwind(|| validate(data).is_ok());
                if let Ok(true) = ok {
                    return match new_packet_direct(alloc, b.to_owned()) {
                        Ok(p) => p.into_ptr(),
                        Err(e) => {
                            e.restore(py);
                            std::ptr::null_mut()
                        }
                    };
                }
            }
        }
        forward(&SLOW_PARSE, args, nargs, kwnames)
    }
}

/// `build(layers)`: a list shaped like Mobile IPv6 signalling is served here; anything else
/// goes to [`build`].
unsafe extern "C" fn build_fast(
    _module: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: as `parse_fast`.
    unsafe {
        let py = Python::assume_attached();
        if let Some(arg) = single_arg(args, nargs, kwnames) {
            if ffi::PyList_CheckExact(arg) != 0 {
                let n = ffi::PyList_Size(arg);
                let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    // Borrowed items: nothing below runs Python code or touches the list (the
                    // only allocation is the `bytes` result, not a GC object, so it cannot start
                    // a collection and run finalizers).
                    let item = |i| Borrowed::from_ptr_or_opt(py, ffi::PyList_GetItem(arg, i));
                    // Signalling is 2 to 6 layers; longer lists take the general path.
                    if !(2..=6).contains(&n) {
                        return None;
                    }
                    let mut objs: Few<Borrowed<'_, '_, PyAny>, 6> = Few::new();
                    for i in 0..n {
                        objs.push(item(i)?)?;
                    }
                    build_signalling(py, objs.as_slice())
                }));
                if let Ok(Some(b)) = built {
                    return b.into_ptr();
                }
            }
        }
        forward(&SLOW_BUILD, args, nargs, kwnames)
    }
}

/// Register `fast` as `name`, keeping `slow` (the pyo3 function) for the other calls.
fn add_fast(
    m: &Bound<'_, PyModule>,
    def: &'static mut ffi::PyMethodDef,
    slow: Bound<'_, PyAny>,
    slot: &OnceLock<Py<PyAny>>,
) -> PyResult<()> {
    let py = m.py();
    let _ = slot.set(slow.unbind());
    let name = m.name()?;
    // SAFETY: `def` lives for the rest of the process; the module and its name are live objects.
    let f = unsafe {
        Bound::from_owned_ptr_or_err(py, ffi::PyCFunction_NewEx(def, m.as_ptr(), name.as_ptr()))?
    };
    // SAFETY: `ml_name` is a NUL-terminated static string.
    let fname = unsafe { std::ffi::CStr::from_ptr(def.ml_name) };
    let fname = fname
        .to_str()
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    m.add(fname, f)
}

fn method_def(
    name: &'static std::ffi::CStr,
    doc: &'static std::ffi::CStr,
    f: ffi::PyCFunctionFastWithKeywords,
) -> &'static mut ffi::PyMethodDef {
    Box::leak(Box::new(ffi::PyMethodDef {
        ml_name: name.as_ptr(),
        ml_meth: ffi::PyMethodDefPointer {
            PyCFunctionFastWithKeywords: f,
        },
        ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
        ml_doc: doc.as_ptr(),
    }))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Pad1>()?;
    m.add_class::<PadN>()?;
    m.add_class::<BindingRefreshAdvice>()?;
    m.add_class::<AlternateCareOfAddress>()?;
    m.add_class::<NonceIndices>()?;
    m.add_class::<BindingAuthorizationData>()?;
    m.add_class::<MobileNodeIdentifier>()?;
    m.add_class::<Ipv4HomeAddress>()?;
    m.add_class::<Ipv4AddressAcknowledgement>()?;
    m.add_class::<NatDetection>()?;
    m.add_class::<Ipv4CareOfAddress>()?;
    m.add_class::<BindingIdentifier>()?;
    m.add_class::<FlowSummary>()?;
    m.add_class::<FlowIdentification>()?;
    m.add_class::<UnknownOption>()?;
    m.add_class::<BindingUpdate>()?;
    m.add_class::<BindingAcknowledgement>()?;
    m.add_class::<BindingError>()?;
    m.add_class::<BindingRefreshRequest>()?;
    m.add_class::<HomeAgentSwitch>()?;
    m.add_class::<BindingRevocationIndication>()?;
    m.add_class::<BindingRevocationAcknowledgement>()?;
    m.add_class::<UnknownMobilityMessage>()?;
    m.add_class::<Ipv6Header>()?;
    m.add_class::<HomeAddressOption>()?;
    m.add_class::<DestinationOptions>()?;
    m.add_class::<RoutingHeaderType2>()?;
    m.add_class::<Ipv4Header>()?;
    m.add_class::<UdpHeader>()?;
    m.add_class::<Esp>()?;
    m.add_class::<Raw>()?;
    m.add_class::<Packet>()?;
    let _ = PACKET_ALLOC.set(packet_alloc(m.py())?);
    let _ = SIG_TYPES.set(sig_types(m.py()));
    add_fast(
        m,
        method_def(
            c"build",
            c"build(layers)\n--\n\nLay out a chain of layers, filling next-header fields, lengths, padding and\nchecksums. The MH checksum uses the HAO address as source and the RH2 address as\ndestination.",
            build_fast,
        ),
        wrap_pyfunction!(build, m)?.into_any(),
        &SLOW_BUILD,
    )?;
    add_fast(
        m,
        method_def(
            c"parse",
            c"parse(data)\n--\n\nParse a whole IPv6 or IPv4 packet; raises MalformedPacket / BadChecksum.",
            parse_fast,
        ),
        wrap_pyfunction!(parse, m)?.into_any(),
        &SLOW_PARSE,
    )?;
    m.add_function(wrap_pyfunction!(parse_batch, m)?)?;
    m.add_function(wrap_pyfunction!(parse_mobility_header, m)?)?;
    m.add_function(wrap_pyfunction!(layer_dict, m)?)?;
    Ok(())
}
