//! Whole IPv4 packets: UDP 4191 (RFC 5555) with inner IPv6/IPv4, UDP 4500 ESP, IP-in-IP.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut v = data.to_vec();
    if let Some(b) = v.first_mut() {
        *b = 0x45;
    }
    common::check_packet(&v);
});
