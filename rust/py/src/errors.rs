//! Every conversion from a Rust error to a Python exception, in one place
//! (STYLE §4.4). The exception classes are owned by `python/dsmip6/errors.py`.

#![allow(dead_code)]

pyo3::import_exception!(dsmip6.errors, MalformedPacket);

// --- wire (dsmip6-wire) -------------------------------------------------------------------

pyo3::import_exception!(dsmip6.errors, BadChecksum);

/// A `dsmip6_wire::Error` on its way to Python (a local newtype: both `Error` and `PyErr` are
/// foreign to this crate).
pub(crate) struct WireError(pub dsmip6_wire::Error);

impl From<dsmip6_wire::Error> for WireError {
    fn from(e: dsmip6_wire::Error) -> Self {
        WireError(e)
    }
}

/// Every wire error becomes `MalformedPacket(message, offset, reason)`; a checksum that does
/// not verify becomes its subclass `BadChecksum`.
impl From<WireError> for pyo3::PyErr {
    fn from(WireError(e): WireError) -> pyo3::PyErr {
        use dsmip6_wire::ErrorKind as K;
        let msg = e.to_string();
        let args = (msg, e.offset, e.kind.as_str());
        match e.kind {
            K::BadChecksum => BadChecksum::new_err(args),
            K::Truncated
            | K::BadLength
            | K::BadAlignment
            | K::BadVersion
            | K::NonZeroReserved
            | K::BadValue
            | K::Unsupported
            | K::TrailingData
            | K::TooManyLayers => MalformedPacket::new_err(args),
        }
    }
}
// Covered from Python by tests/test_wire_errors.py (this crate's tests need a linked
// interpreter, which the abi3 extension build does not have).
// ---- dataplane: ESP and binding cache (owned by the dataplane helper) ----

pyo3::import_exception!(dsmip6.errors, UnknownSpi);
pyo3::import_exception!(dsmip6.errors, ReplayedPacket);
pyo3::import_exception!(dsmip6.errors, IntegrityCheckFailed);
pyo3::import_exception!(dsmip6.errors, BadPadding);
pyo3::import_exception!(dsmip6.errors, SequenceNumberExhausted);
pyo3::import_exception!(dsmip6.errors, CacheError);

use dsmip6_dataplane::cache::CacheError as RustCacheError;
use dsmip6_dataplane::esp::EspError;
use pyo3::exceptions::PyValueError;
use pyo3::PyErr;

/// ESP error → `dsmip6.errors` exception (exhaustive: a new variant must be mapped here).
/// A function, not `From`, because both types are foreign to this crate.
pub(crate) fn esp_error(e: EspError) -> PyErr {
    let msg = e.to_string();
    match e {
        EspError::Truncated => MalformedPacket::new_err((msg, None::<usize>, "truncated")),
        EspError::Malformed(_) => MalformedPacket::new_err((msg, None::<usize>, "bad-header")),
        EspError::NotEsp => MalformedPacket::new_err((msg, None::<usize>, "not-esp")),
        EspError::TooBig => MalformedPacket::new_err((msg, None::<usize>, "too-big")),
        EspError::UnknownSpi(_) => UnknownSpi::new_err(msg),
        EspError::Replayed(_) => ReplayedPacket::new_err(msg),
        EspError::IntegrityCheckFailed => IntegrityCheckFailed::new_err(msg),
        EspError::BadPadding => BadPadding::new_err(msg),
        EspError::SequenceNumberExhausted => SequenceNumberExhausted::new_err(msg),
        EspError::BufferTooSmall { .. } | EspError::InvalidConfig(_) => PyValueError::new_err(msg),
    }
}

/// Binding-cache error → `dsmip6.errors.CacheError` (or `ValueError` for bad arguments).
pub(crate) fn cache_error(e: RustCacheError) -> PyErr {
    let msg = e.to_string();
    match e {
        RustCacheError::Exists | RustCacheError::NotFound | RustCacheError::KeyConflict => {
            CacheError::new_err(msg)
        }
        RustCacheError::BadPrefix => PyValueError::new_err(msg),
    }
}

/// `MalformedPacket(message, offset, reason)` for a truncation found by a walk written in this
/// crate (`mhfast.esp_spi`: the same arguments `dsmip6._mh.esp_spi` raises with).
pub(crate) fn truncated(message: &'static str, offset: usize) -> PyErr {
    MalformedPacket::new_err((message, offset, "truncated"))
}
