//! DSMIPv6 wire formats (pure Rust, no Python).
#![deny(unsafe_code)]
