// Shared by the packet targets: parse, pretty-print, re-emit, and check that what we emit
// parses back to the same octets. Checksums are not verified under cfg(fuzzing), so the first
// emission may differ from the input in checksum fields only; the second must be identical.
use dsmip6_wire::packet::{emit_packet, packet_len};
use dsmip6_wire::parse_packet;

pub fn check_packet(data: &[u8]) {
    let Ok(layers) = parse_packet(data) else { return };
    let _ = format!("{layers:?}");
    let mut once = vec![0u8; packet_len(layers.as_slice())];
    assert_eq!(once.len(), data.len());
    if emit_packet(layers.as_slice(), &mut once).is_err() {
        return;
    }
    let again = parse_packet(&once).expect("what we emit must parse");
    let mut twice = vec![0u8; packet_len(again.as_slice())];
    emit_packet(again.as_slice(), &mut twice).expect("re-emit");
    assert_eq!(once, twice);
}
