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
