//! The trailer of a decrypted ESP payload (pad length, monotonic padding, next header).
#![no_main]
use dsmip6_wire::EspTrailerRepr;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(t) = EspTrailerRepr::parse(data) else { return };
    assert_eq!(t.payload_len + t.trailer_len(), data.len());
    let mut out = vec![0u8; t.trailer_len()];
    t.emit(&mut out);
    assert_eq!(out[..], data[t.payload_len..]);
});
