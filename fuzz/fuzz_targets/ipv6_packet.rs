//! Whole IPv6 packets: extension headers, HAO/RH2, MH, UDP 4191/4500, ESP, IP-in-IP.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut v = data.to_vec();
    if let Some(b) = v.first_mut() {
        *b = 0x60 | (*b & 0x0f);
    }
    common::check_packet(&v);
});
