//! ESP receive path on arbitrary bytes: `Sa::decrypt_into` and `Sad::decrypt_into` never panic
//! and never change the SA on error; any packet `Sa::encrypt_into` accepts round-trips.
//! The first octet picks the algorithm, mode, ESN and UDP encapsulation.
#![no_main]
use dsmip6_dataplane::esp::{Algorithm, Mode, Sa, SaConfig, Sad, MAX_OVERHEAD};
use libfuzzer_sys::fuzz_target;

const ALGS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::AesCbcHmacSha256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::Null,
];

fn sa(sel: u8) -> Sa {
    let alg = ALGS[usize::from(sel) % ALGS.len()];
    let (key, ik): (Vec<u8>, Option<Vec<u8>>) = match alg {
        Algorithm::AesGcm128 => (vec![1; 20], None),
        Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305 => (vec![2; 36], None),
        Algorithm::AesCbcHmacSha256 => (vec![3; 16], Some(vec![4; 32])),
        Algorithm::Null => (Vec::new(), if sel & 0x80 != 0 { Some(vec![5; 32]) } else { None }),
    };
    let tunnel = sel & 0x08 != 0;
    Sa::new(&SaConfig {
        spi: 0x1001,
        mode: if tunnel { Mode::Tunnel } else { Mode::Transport },
        algorithm: alg,
        key: &key,
        integrity_key: ik.as_deref(),
        esn: sel & 0x10 != 0,
        udp_encap: if sel & 0x20 != 0 { Some((4500, 4500)) } else { None },
        tunnel: if tunnel {
            Some(("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap()))
        } else {
            None
        },
    })
    .expect("fixed valid configuration")
}

/// The protocol number after the headers ESP keeps in front (IPv4 protocol, or the IPv6 Next
/// Header after Hop-by-Hop / Routing / Destination Options), is 59.
fn upper_is_no_next_header(pkt: &[u8]) -> bool {
    if pkt[0] >> 4 == 4 {
        return pkt[9] == 59;
    }
    let mut nh = pkt[6];
    let mut off = 40;
    while matches!(nh, 0 | 43 | 60) {
        nh = pkt[off];
        off += (usize::from(pkt[off + 1]) + 1) * 8;
    }
    nh == 59
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, pkt)) = data.split_first() else { return };
    let mut rx = sa(sel);
    let before = (rx.replay_top(), rx.counters().packets_in);
    let mut out = vec![0u8; pkt.len() + MAX_OVERHEAD];
    if rx.decrypt_into(pkt, &mut out).is_err() {
        assert_eq!((rx.replay_top(), rx.counters().packets_in), before);
    }
    let mut sad = Sad::new();
    sad.insert(None, sa(sel));
    let _ = sad.decrypt_into(pkt, &mut out);

    // Whatever we can encrypt must decrypt to the same packet.
    let mut tx = sa(sel);
    let mut rx = sa(sel);
    if let Ok(n) = tx.encrypt_into(pkt, &mut out) {
        let wire = out[..n].to_vec();
        let mut back = vec![0u8; wire.len()];
        let m = rx.decrypt_into(&wire, &mut back).expect("our own packet must decrypt");
        if sel & 0x08 == 0 && upper_is_no_next_header(pkt) {
            // Transport mode of a packet whose upper layer is "No Next Header" (59): the
            // receiver sees an ESP dummy packet (RFC 4303 §2.6) and drops it.
            assert_eq!(m, 0);
            return;
        }
        let mut want = pkt.to_vec();
        if sel & 0x08 == 0 && pkt[0] >> 4 == 4 {
            // Transport mode rewrites the IPv4 header (protocol, length), so its checksum is
            // recomputed: the input's may have been wrong. Compare everything else.
            want[10..12].copy_from_slice(&back[10..12]);
        }
        assert_eq!(&back[..m], &want[..]);
    }
});
