//! A Mobility Header alone: the first 32 octets are the pseudo-header addresses.
#![no_main]
use core::net::Ipv6Addr;
use dsmip6_wire::{MobilityHeader, MobilityRepr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 32 {
        return;
    }
    let mut a = [0u8; 16];
    a.copy_from_slice(&data[..16]);
    let src = Ipv6Addr::from(a);
    a.copy_from_slice(&data[16..32]);
    let dst = Ipv6Addr::from(a);
    let mh = &data[32..];
    let Ok(r) = MobilityRepr::parse(&MobilityHeader::new_unchecked(mh), &src, &dst) else { return };
    let _ = format!("{r:?}");
    for o in r.options.iter() {
        let _ = format!("{o:?}");
    }
    let mut out = vec![0u8; r.buffer_len()];
    assert_eq!(out.len(), mh.len());
    r.emit(&mut out, &src, &dst);
    // Same octets except (under cfg(fuzzing)) the checksum field.
    assert_eq!(out[..4], mh[..4]);
    assert_eq!(out[6..], mh[6..]);
});
