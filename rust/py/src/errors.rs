//! Every conversion from a Rust error to a Python exception, in one place
//! (STYLE §4.4). The exception classes are owned by `python/dsmip6/errors.py`.

#![allow(dead_code)]

pyo3::import_exception!(dsmip6.errors, MalformedPacket);
