//! DSMIPv6 data plane: ESP security associations and the binding cache (pure Rust, no Python).
//!
//! * [`esp`]: RFC 4303 ESP with AES-GCM (RFC 4106), AES-CBC + HMAC-SHA-256-128 (RFC 3602,
//!   RFC 4868), ChaCha20-Poly1305 (RFC 7634) and NULL encryption (RFC 2410), transport and
//!   tunnel mode, IPv6 and IPv4 outer headers, ESP-in-UDP (RFC 3948), 32-bit and extended
//!   sequence numbers with a 1024-packet anti-replay window; the SAD and SPD.
//! * [`cache`]: the HA binding cache / UE binding update list with its lookup indexes.
//! * [`seq`]: RFC 6275 §9.5.1 sequence-number comparison modulo 2^16.
//!
//! No function here reads the clock or panics on packet input (STYLE §2.5, §3).

#![deny(unsafe_code)]

pub mod addr;
pub mod cache;
pub mod esp;
pub mod seq;
