//! A Destination Options header (HAO alignment, Pad1/PadN, unknown options).
#![no_main]
use dsmip6_wire::{DestOptsHeader, DestOptsRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(h) = DestOptsHeader::new_checked(data) else { return };
    let Ok(r) = DestOptsRepr::parse(&h) else { return };
    let _ = format!("{r:?} {:?}", r.home_address());
    for o in r.options() {
        let _ = format!("{o:?}");
    }
    let mut out = vec![0u8; r.buffer_len()];
    r.emit(&mut out);
    assert_eq!(out[..], data[..out.len()]);
});
