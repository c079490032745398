//! SA tests: official vectors (test-vectors.md §2), round trips over every algorithm, mode and
//! outer family, replay/ESN behaviour, and bad input with no state change.

use std::net::IpAddr;

use ring::aead;

use super::ip;
use super::sa::esp_aead_wire;
use super::vectors::{ESP_CASES, GCM_CASES};
use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// test-vectors.md §6 E1: IPv6 | DestOpt(PadN, HAO) | MH (BU)
const E1: &str = "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000000000000100031020010db8000200000000000000000100";
// E2: IPv6 | RH2 | MH (BA)
const E2: &str = "6000000000302b4020010db800010000000000000000000120010db8000200000000000000000100870202010000000020010db80001000000000000000010003b0206006d1100c0000103841e060080c000020a01020000";
// E3: IPv4 | UDP 4191 | IPv6 | MH
const E3: &str = "45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db800010000000000000000100020010db80001000000000000000000013b030500d2040002d40003841d068000c000020a20060000c633640701020000";

const ALGS: [Algorithm; 5] = [
    Algorithm::AesGcm128,
    Algorithm::AesGcm256,
    Algorithm::AesCbcHmacSha256,
    Algorithm::ChaCha20Poly1305,
    Algorithm::Null,
];

fn keys(alg: Algorithm) -> (Vec<u8>, Option<Vec<u8>>) {
    let k = |n: usize, b: u8| (0..n).map(|i| b.wrapping_add(i as u8)).collect::<Vec<u8>>();
    match alg {
        Algorithm::AesGcm128 => (k(20, 1), None),
        Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305 => (k(36, 7), None),
        Algorithm::AesCbcHmacSha256 => (k(16, 3), Some(k(32, 9))),
        Algorithm::Null => (Vec::new(), Some(k(32, 5))),
    }
}

fn sa(
    alg: Algorithm,
    mode: Mode,
    esn: bool,
    udp: Option<(u16, u16)>,
    tunnel: Option<(&str, &str)>,
) -> Sa {
    let (key, ik) = keys(alg);
    let tunnel = tunnel.map(|(s, d)| (s.parse::<IpAddr>().unwrap(), d.parse::<IpAddr>().unwrap()));
    Sa::new(&SaConfig {
        spi: 0x1001,
        mode,
        algorithm: alg,
        key: &key,
        integrity_key: ik.as_deref(),
        esn,
        udp_encap: udp,
        tunnel,
    })
    .unwrap()
}

fn enc<S: SaState>(sa: &mut SaCore<S>, p: &[u8]) -> Result<Vec<u8>, EspError> {
    let mut out = vec![0u8; p.len() + MAX_OVERHEAD];
    let n = sa.encrypt_into(p, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn dec<S: SaState>(sa: &mut SaCore<S>, p: &[u8]) -> Result<Vec<u8>, EspError> {
    let mut out = vec![0u8; p.len()];
    let n = sa.decrypt_into(p, &mut out)?;
    out.truncate(n);
    Ok(out)
}

fn ipv4_wrap(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    ip::write_ipv4(
        &mut p,
        &[192, 0, 2, 1],
        &[192, 0, 2, 2],
        proto,
        payload.len(),
        0,
    )
    .unwrap();
    p.extend_from_slice(payload);
    p
}

#[test]
fn gcm_spec_vectors() {
    for c in GCM_CASES {
        let k = hex(c.k);
        let alg = if k.len() == 16 {
            &aead::AES_128_GCM
        } else {
            &aead::AES_256_GCM
        };
        let key = aead::LessSafeKey::new(aead::UnboundKey::new(alg, &k).unwrap());
        let nonce = aead::Nonce::try_assume_unique_for_key(&hex(c.iv)).unwrap();
        let mut buf = hex(c.p);
        let tag = key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(hex(c.a)), &mut buf)
            .unwrap();
        assert_eq!(buf, hex(c.c), "{}", c.name);
        assert_eq!(tag.as_ref(), &hex(c.t)[..], "{}", c.name);
    }
}

fn esp_alg(keymat_len: usize) -> Option<(&'static aead::Algorithm, Algorithm)> {
    match keymat_len {
        20 => Some((&aead::AES_128_GCM, Algorithm::AesGcm128)),
        36 => Some((&aead::AES_256_GCM, Algorithm::AesGcm256)),
        _ => None, // AES-192-GCM: not offered by dsmip6 (ring has no AES-192)
    }
}

#[test]
fn draft_mcgrew_esp_vectors_seal_byte_exact() {
    let mut tested = 0;
    for c in ESP_CASES {
        let Some((ring_alg, _)) = esp_alg(c.keymat.len() / 2) else {
            continue;
        };
        let (aad, n) = sa::esp_aad(c.spi, c.seq, c.esn);
        assert_eq!(&aad[..n], &hex(c.aad)[..], "{} AAD", c.name);
        let iv: [u8; 8] = hex(c.iv).try_into().unwrap();
        let wire = esp_aead_wire(
            ring_alg,
            &hex(c.keymat),
            c.spi,
            c.seq,
            c.esn,
            &iv,
            &hex(c.plaintext),
        );
        assert_eq!(wire, hex(c.wire), "{}", c.name);
        tested += 1;
    }
    assert_eq!(tested, 13);
}

/// Full receive path: the vector's ESP wire inside an IPv4 header, through `Sa::decrypt_into`
/// (SPI, ESN inference, AAD, nonce, tag, trailer), must give back the plaintext's data.
#[test]
fn draft_mcgrew_esp_vectors_open_through_sa() {
    let mut tested = 0;
    for c in ESP_CASES {
        let Some((_, alg)) = esp_alg(c.keymat.len() / 2) else {
            continue;
        };
        if c.spi == 0 {
            continue; // SPI 0 is reserved: Sa::new refuses it (checked below)
        }
        let keymat = hex(c.keymat);
        let mut sa = Sa::new(&SaConfig {
            spi: c.spi,
            mode: Mode::Transport,
            algorithm: alg,
            key: &keymat,
            integrity_key: None,
            esn: c.esn,
            udp_encap: None,
            tunnel: None,
        })
        .unwrap();
        if c.esn && c.seq > 1 {
            sa.set_replay_top(c.seq - 1);
        }
        let pt = hex(c.plaintext);
        let pad = usize::from(pt[pt.len() - 2]);
        let default_padding = (0..pad).all(|i| usize::from(pt[pt.len() - 2 - pad + i]) == i + 1);
        let pkt = ipv4_wrap(50, &hex(c.wire));
        let r = dec(&mut sa, &pkt);
        if default_padding {
            let out = r.unwrap_or_else(|e| panic!("{}: {e}", c.name));
            assert_eq!(&out[20..], &pt[..pt.len() - 2 - pad], "{}", c.name);
            assert_eq!(out[9], pt[pt.len() - 1], "{} next header", c.name);
            assert_eq!(sa.replay_top(), c.seq, "{}", c.name);
        } else {
            assert_eq!(r, Err(EspError::BadPadding), "{}", c.name);
            assert_eq!(sa.counters().packets_in, 0);
        }
        tested += 1;
    }
    assert!(tested >= 10, "{tested}");
}

#[test]
fn zero_spi_and_bad_keys_refused() {
    let cfg = |spi, alg, key: &'static [u8], ik: Option<&'static [u8]>| SaConfig {
        spi,
        mode: Mode::Transport,
        algorithm: alg,
        key,
        integrity_key: ik,
        esn: false,
        udp_encap: None,
        tunnel: None,
    };
    assert!(matches!(
        Sa::new(&cfg(0, Algorithm::AesGcm128, &[0; 20], None)),
        Err(EspError::InvalidConfig(_))
    ));
    assert!(Sa::new(&cfg(1, Algorithm::AesGcm128, &[0; 16], None)).is_err());
    assert!(Sa::new(&cfg(1, Algorithm::AesGcm128, &[0; 20], Some(&[0; 32]))).is_err());
    assert!(Sa::new(&cfg(1, Algorithm::AesCbcHmacSha256, &[0; 16], None)).is_err());
    assert!(Sa::new(&cfg(
        1,
        Algorithm::AesCbcHmacSha256,
        &[0; 15],
        Some(&[0; 32])
    ))
    .is_err());
    assert!(Sa::new(&cfg(
        1,
        Algorithm::AesCbcHmacSha256,
        &[0; 32],
        Some(&[0; 20])
    ))
    .is_err());
    assert!(Sa::new(&cfg(1, Algorithm::Null, &[0; 1], None)).is_err());
    assert!(Sa::new(&cfg(1, Algorithm::ChaCha20Poly1305, &[0; 36], None)).is_ok());
}

#[test]
fn round_trip_every_algorithm_mode_and_family() {
    type Case = (
        Mode,
        Option<(u16, u16)>,
        Option<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: [Case; 6] = [
        (Mode::Transport, None, None, E1),
        (Mode::Transport, None, None, E2),
        (Mode::Transport, None, None, E3),
        (
            Mode::Tunnel,
            None,
            Some(("2001:db8:2::100", "2001:db8:1::1")),
            E1,
        ),
        (
            Mode::Tunnel,
            Some((4500, 4500)),
            Some(("198.51.100.7", "203.0.113.1")),
            E1,
        ),
        (
            Mode::Tunnel,
            None,
            Some(("198.51.100.7", "203.0.113.1")),
            E3,
        ),
    ];
    for alg in ALGS {
        for esn in [false, true] {
            for (mode, udp, tunnel, pkt) in cases {
                let mut tx = sa(alg, mode, esn, udp, tunnel);
                let mut rx = sa(alg, mode, esn, udp, None.or(tunnel));
                let pkt = hex(pkt);
                for i in 1..=3u64 {
                    let wire = enc(&mut tx, &pkt).unwrap();
                    assert_eq!(tx.seq_out(), i);
                    let back = dec(&mut rx, &wire).unwrap();
                    assert_eq!(back, pkt, "{alg:?} {mode:?} esn={esn} udp={udp:?}");
                    assert_eq!(rx.replay_top(), i);
                    assert_eq!(dec(&mut rx, &wire), Err(EspError::Replayed(i)));
                }
                let c = rx.counters();
                assert_eq!((c.packets_in, c.drop_replay), (3, 3));
                assert_eq!(tx.counters().packets_out, 3);
            }
        }
    }
}

#[test]
fn transport_esp_goes_after_hao_and_rh2() {
    for (pkt, hdrs) in [(E1, 64usize), (E2, 64)] {
        let pkt = hex(pkt);
        let mut tx = sa(Algorithm::AesGcm128, Mode::Transport, false, None, None);
        let wire = enc(&mut tx, &pkt).unwrap();
        assert_eq!(&wire[8..40], &pkt[8..40], "addresses kept");
        assert_eq!(&wire[41..hdrs], &pkt[41..hdrs], "extension header kept");
        assert_eq!(wire[40], 50, "the DestOpt/RH2 next header now names ESP");
        assert_eq!(&wire[hdrs..hdrs + 8], &[0, 0, 0x10, 0x01, 0, 0, 0, 1]);
        assert_eq!(
            usize::from(u16::from_be_bytes([wire[4], wire[5]])),
            wire.len() - 40
        );
        // MH (40 octets) + 2 trailer → 44 (4-aligned), + 8 header + 8 IV + 16 ICV
        assert_eq!(
            wire.len(),
            hdrs + 8 + 8 + (pkt.len() - hdrs + 2).div_ceil(4) * 4 + 16
        );
    }
    // ESP in UDP for a transport-mode IPv4 packet: IPv4 | UDP | ESP.
    let e3 = hex(E3);
    let mut tx = sa(
        Algorithm::AesGcm128,
        Mode::Transport,
        false,
        Some((4500, 4500)),
        None,
    );
    let wire = enc(&mut tx, &e3).unwrap();
    assert_eq!(wire[9], 17);
    assert_eq!(&wire[20..22], &4500u16.to_be_bytes());
    assert_eq!(
        &wire[26..28],
        &[0, 0],
        "IPv4 UDP checksum 0 (RFC 3948 §2.1)"
    );
}

#[test]
fn ipv6_udp_checksum_is_valid() {
    let mut tx = sa(
        Algorithm::AesGcm128,
        Mode::Tunnel,
        false,
        Some((4500, 4500)),
        Some(("2001:db8::1", "2001:db8::2")),
    );
    let wire = enc(&mut tx, &hex(E3)).unwrap();
    let mut acc = ip::checksum_add(0, &wire[8..40]);
    acc += (wire.len() - 40) as u64 + 17;
    acc = ip::checksum_add(acc, &wire[40..]);
    assert_eq!(ip::checksum_finish(acc), 0);
}

#[test]
fn cbc_ivs_differ_and_ciphertexts_differ() {
    let mut tx = sa(
        Algorithm::AesCbcHmacSha256,
        Mode::Transport,
        false,
        None,
        None,
    );
    let a = enc(&mut tx, &hex(E1)).unwrap();
    let b = enc(&mut tx, &hex(E1)).unwrap();
    assert_ne!(&a[72..88], &b[72..88]);
    assert_eq!((a.len() - 64 - 8 - 16 - 16) % 16, 0);
}

#[test]
fn bad_input_distinct_errors_no_state_change() {
    for alg in ALGS {
        let mut tx = sa(alg, Mode::Transport, false, None, None);
        let mut rx = sa(alg, Mode::Transport, false, None, None);
        let pkt = hex(E1);
        let first = enc(&mut tx, &pkt).unwrap();
        let good = enc(&mut tx, &pkt).unwrap();
        assert_eq!(dec(&mut rx, &good).unwrap(), pkt);
        let snapshot = |s: &Sa| {
            (
                s.replay_top(),
                s.counters().packets_in,
                s.counters().bytes_in,
            )
        };
        let before = snapshot(&rx);

        // Truncated: every strict prefix.
        for n in 0..good.len() {
            let e = dec(&mut rx, &good[..n]).unwrap_err();
            assert!(
                matches!(e, EspError::Truncated | EspError::Malformed(_)),
                "{alg:?} {n}: {e}"
            );
        }
        // A consistent but short ESP payload (IPv6 length fixed up).
        let mut short = good[..64 + 12].to_vec();
        let l = (short.len() - 40) as u16;
        short[4..6].copy_from_slice(&l.to_be_bytes());
        assert_eq!(dec(&mut rx, &short), Err(EspError::Truncated));
        // Wrong SPI.
        let mut wrong = good.clone();
        wrong[64 + 3] ^= 0x40;
        assert_eq!(dec(&mut rx, &wrong), Err(EspError::UnknownSpi(0x1041)));
        // Replayed.
        assert_eq!(dec(&mut rx, &good), Err(EspError::Replayed(2)));
        // Tampered: flip each octet after the SPI/sequence (IV, ciphertext, ICV).
        for i in 64 + 8..good.len() {
            let mut t = first.clone();
            t[i] ^= 0x01;
            assert_eq!(
                dec(&mut rx, &t),
                Err(EspError::IntegrityCheckFailed),
                "{alg:?} octet {i}"
            );
        }
        // Tampered sequence number (authenticated): 2 → 3 fails the ICV.
        let mut t = good.clone();
        t[64 + 7] = 3;
        assert_eq!(dec(&mut rx, &t), Err(EspError::IntegrityCheckFailed));
        // Not ESP.
        assert_eq!(dec(&mut rx, &pkt), Err(EspError::NotEsp));
        assert_eq!(snapshot(&rx), before, "{alg:?}: state changed by bad input");
        let c = rx.counters();
        assert!(c.drop_icv > 0 && c.drop_replay == 1 && c.drop_unknown_spi == 1);
        // The untampered first packet is still acceptable: nothing moved the window.
        assert_eq!(dec(&mut rx, &first).unwrap(), pkt);
    }
}

#[test]
fn bad_padding_is_distinct_and_changes_nothing() {
    // AES-GCM: seal a trailer whose padding is 1, 2, 4 instead of 1, 2, 3.
    let (keymat, _) = keys(Algorithm::AesGcm128);
    let mut body = b"\x87\x00\x05\x00payload".to_vec();
    body.extend_from_slice(&[1, 2, 4, 3, 135]);
    let wire = esp_aead_wire(
        &aead::AES_128_GCM,
        &keymat,
        0x1001,
        1,
        false,
        &[0; 8],
        &body,
    );
    let mut pkt = vec![0u8; 40];
    ip::write_ipv6(&mut pkt, &[0x20; 16], &[0x21; 16], 50, wire.len()).unwrap();
    pkt.extend_from_slice(&wire);
    let mut rx = sa(Algorithm::AesGcm128, Mode::Transport, false, None, None);
    assert_eq!(dec(&mut rx, &pkt), Err(EspError::BadPadding));
    assert_eq!(
        (
            rx.replay_top(),
            rx.counters().packets_in,
            rx.counters().drop_padding
        ),
        (0, 0, 1)
    );
    // Pad length larger than the plaintext.
    let mut body = b"\x87\x00".to_vec();
    body.extend_from_slice(&[9, 135]);
    let wire = esp_aead_wire(
        &aead::AES_128_GCM,
        &keymat,
        0x1001,
        1,
        false,
        &[0; 8],
        &body,
    );
    let mut pkt = vec![0u8; 40];
    ip::write_ipv6(&mut pkt, &[0x20; 16], &[0x21; 16], 50, wire.len()).unwrap();
    pkt.extend_from_slice(&wire);
    assert_eq!(dec(&mut rx, &pkt), Err(EspError::BadPadding));
    assert_eq!(rx.replay_top(), 0);
    // A good packet with the same sequence number is still accepted.
    let mut body = b"\x87\x00".to_vec();
    body.extend_from_slice(&[0, 135]);
    let wire = esp_aead_wire(
        &aead::AES_128_GCM,
        &keymat,
        0x1001,
        1,
        false,
        &[0; 8],
        &body,
    );
    let mut pkt = vec![0u8; 40];
    ip::write_ipv6(&mut pkt, &[0x20; 16], &[0x21; 16], 50, wire.len()).unwrap();
    pkt.extend_from_slice(&wire);
    let out = dec(&mut rx, &pkt).unwrap();
    assert_eq!(&out[40..], b"\x87\x00");
    assert_eq!(out[6], 135);
}

#[test]
fn dummy_packets_are_dropped_quietly() {
    let (keymat, _) = keys(Algorithm::AesGcm128);
    let wire = esp_aead_wire(
        &aead::AES_128_GCM,
        &keymat,
        0x1001,
        1,
        false,
        &[0; 8],
        &[1, 2, 2, 59],
    );
    let mut pkt = vec![0u8; 40];
    ip::write_ipv6(&mut pkt, &[0x20; 16], &[0x21; 16], 50, wire.len()).unwrap();
    pkt.extend_from_slice(&wire);
    let mut rx = sa(Algorithm::AesGcm128, Mode::Tunnel, false, None, None);
    assert_eq!(dec(&mut rx, &pkt), Ok(Vec::new()));
    assert_eq!(rx.counters().dummy_in, 1);
}

#[test]
fn sequence_number_exhaustion() {
    let pkt = hex(E1);
    let mut tx = sa(Algorithm::AesGcm128, Mode::Transport, false, None, None);
    tx.set_seq_out(u64::from(u32::MAX) - 1);
    assert!(enc(&mut tx, &pkt).is_ok());
    assert_eq!(tx.seq_out(), u64::from(u32::MAX));
    assert_eq!(enc(&mut tx, &pkt), Err(EspError::SequenceNumberExhausted));
    assert_eq!(
        tx.seq_out(),
        u64::from(u32::MAX),
        "no wrap, no state change"
    );
    assert_eq!(tx.counters().packets_out, 1);
    // ESN carries on past 2^32 and stops at 2^64 - 1.
    let mut tx = sa(Algorithm::AesGcm128, Mode::Transport, true, None, None);
    let mut rx = sa(Algorithm::AesGcm128, Mode::Transport, true, None, None);
    tx.set_seq_out(u64::from(u32::MAX) - 2);
    rx.set_replay_top(u64::from(u32::MAX) - 2);
    for _ in 0..4 {
        let w = enc(&mut tx, &pkt).unwrap();
        assert_eq!(dec(&mut rx, &w).unwrap(), pkt);
    }
    assert_eq!(rx.replay_top(), (1 << 32) + 1);
    tx.set_seq_out(u64::MAX);
    assert_eq!(enc(&mut tx, &pkt), Err(EspError::SequenceNumberExhausted));
}

#[test]
fn esn_reordering_across_the_boundary() {
    let pkt = hex(E1);
    let mut tx = sa(
        Algorithm::AesCbcHmacSha256,
        Mode::Transport,
        true,
        None,
        None,
    );
    let mut rx = sa(
        Algorithm::AesCbcHmacSha256,
        Mode::Transport,
        true,
        None,
        None,
    );
    tx.set_seq_out(u64::from(u32::MAX) - 10);
    rx.set_replay_top(u64::from(u32::MAX) - 20);
    let wires: Vec<_> = (0..20).map(|_| enc(&mut tx, &pkt).unwrap()).collect();
    // Deliver the post-boundary half first, then the pre-boundary half (inside the window).
    for w in wires[10..].iter().chain(&wires[..10]) {
        assert_eq!(dec(&mut rx, w).unwrap(), pkt);
    }
    assert_eq!(rx.replay_top(), (1 << 32) + 9);
    for w in &wires {
        assert!(matches!(dec(&mut rx, w), Err(EspError::Replayed(_))));
    }
}

#[test]
fn window_of_1024() {
    let pkt = hex(E1);
    let mut tx = sa(
        Algorithm::ChaCha20Poly1305,
        Mode::Transport,
        false,
        None,
        None,
    );
    let mut rx = sa(
        Algorithm::ChaCha20Poly1305,
        Mode::Transport,
        false,
        None,
        None,
    );
    assert_eq!(rx.replay_window_size(), 1024);
    let wires: Vec<_> = (0..1100).map(|_| enc(&mut tx, &pkt).unwrap()).collect();
    dec(&mut rx, &wires[1099]).unwrap(); // seq 1100
    assert!(matches!(
        dec(&mut rx, &wires[75]),
        Err(EspError::Replayed(76))
    )); // 1100-76 = 1024
    dec(&mut rx, &wires[76]).unwrap(); // seq 77: inside
    dec(&mut rx, &wires[500]).unwrap();
}

#[test]
fn batches() {
    let pkt = hex(E1);
    let mut tx = sa(
        Algorithm::AesGcm128,
        Mode::Tunnel,
        false,
        None,
        Some(("2001:db8::1", "2001:db8::2")),
    );
    let mut rx = sa(Algorithm::AesGcm128, Mode::Tunnel, false, None, None);
    let mut b = Batch::default();
    let inputs: Vec<Vec<u8>> = (0..5)
        .map(|i| if i == 2 { vec![0x60] } else { pkt.clone() })
        .collect();
    tx.encrypt_batch(inputs.iter().map(Vec::as_slice), &mut b);
    assert_eq!(b.items.len(), 5);
    assert_eq!(b.items[2], Err(EspError::Truncated));
    let wires: Vec<Vec<u8>> = (0..5)
        .filter_map(|i| b.get(i).map(<[u8]>::to_vec))
        .collect();
    assert_eq!(wires.len(), 4);
    let mut d = Batch::default();
    rx.decrypt_batch(
        wires.iter().chain(wires.iter().take(1)).map(Vec::as_slice),
        &mut d,
    );
    for i in 0..4 {
        assert_eq!(d.get(i).unwrap(), &pkt[..]);
    }
    assert_eq!(d.items[4], Err(EspError::Replayed(1)));
}

#[test]
fn sad_dispatches_by_spi_and_destination() {
    let pkt = hex(E1);
    let mut sad = Sad::new();
    let mut tx = sa(Algorithm::AesGcm128, Mode::Transport, false, None, None);
    assert!(sad.insert(
        Some("2001:db8:1::1".parse().unwrap()),
        sa(Algorithm::AesGcm128, Mode::Transport, false, None, None)
    ));
    assert!(!sad.insert(
        Some("2001:db8:1::1".parse().unwrap()),
        sa(Algorithm::AesGcm128, Mode::Transport, false, None, None)
    ));
    let wire = enc(&mut tx, &pkt).unwrap();
    let mut out = vec![0; wire.len()];
    let (spi, n) = sad.decrypt_into(&wire, &mut out).unwrap();
    assert_eq!((spi, &out[..n]), (0x1001, &pkt[..]));
    let mut other = wire.clone();
    other[64 + 2] = 0x77;
    assert_eq!(
        sad.decrypt_into(&other, &mut out),
        Err(EspError::UnknownSpi(0x0000_7701))
    );
    // Another destination does not match an SA bound to 2001:db8:1::1.
    let mut elsewhere = wire.clone();
    elsewhere[39] = 0x99;
    assert_eq!(
        sad.decrypt_into(&elsewhere, &mut out),
        Err(EspError::UnknownSpi(0x1001))
    );
}

fn compact_sa<S: SaState>(alg: Algorithm) -> SaCore<S> {
    compact_sa_esn(alg, false)
}

fn compact_sa_esn<S: SaState>(alg: Algorithm, esn: bool) -> SaCore<S> {
    let (key, ik) = keys(alg);
    SaCore::<S>::new_compact(&SaConfig {
        spi: 0x1001,
        mode: Mode::Transport,
        algorithm: alg,
        key: &key,
        integrity_key: ik.as_deref(),
        esn,
        udp_encap: None,
        tunnel: None,
    })
    .unwrap()
}

#[test]
fn compact_sa_produces_and_accepts_the_same_packets() {
    let e1 = hex(E1);
    for alg in ALGS {
        // Same SPI, keys and sequence numbers. AEAD IVs are the sequence number, so the
        // packets are byte-identical; CBC IVs come from a per-SA random key, so those are
        // compared by decryption only.
        let aead = matches!(
            alg,
            Algorithm::AesGcm128 | Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305
        );
        let mut full_tx = sa(alg, Mode::Transport, false, None, None);
        let mut full_rx = sa(alg, Mode::Transport, false, None, None);
        let (mut small_tx, mut small_rx): (Sa, Sa) = (compact_sa(alg), compact_sa(alg));
        for n in 1..=3u64 {
            let a = enc(&mut full_tx, &e1).unwrap();
            let b = enc(&mut small_tx, &e1).unwrap();
            if aead {
                assert_eq!(a, b, "{alg:?}");
            }
            assert_eq!(dec(&mut small_rx, &a).unwrap(), e1, "{alg:?}");
            assert_eq!(dec(&mut full_rx, &b).unwrap(), e1, "{alg:?}");
            // Replays and tampering are refused by the compact SA as by the full one.
            assert_eq!(dec(&mut small_rx, &a), Err(EspError::Replayed(2 * n - 1)));
            assert_eq!(dec(&mut full_rx, &b), Err(EspError::Replayed(2 * n - 1)));
            let mut bad_a = enc(&mut full_tx, &e1).unwrap();
            let mut bad_b = enc(&mut small_tx, &e1).unwrap();
            let (la, lb) = (bad_a.len() - 1, bad_b.len() - 1);
            bad_a[la] ^= 1;
            bad_b[lb] ^= 1;
            assert_eq!(
                dec(&mut small_rx, &bad_a),
                Err(EspError::IntegrityCheckFailed)
            );
            assert_eq!(
                dec(&mut full_rx, &bad_b),
                Err(EspError::IntegrityCheckFailed)
            );
        }
        assert_eq!(small_rx.counters(), full_rx.counters(), "{alg:?}");
        assert_eq!(small_tx.counters(), full_tx.counters(), "{alg:?}");
    }
}

#[test]
fn compact_aead_sa_is_small() {
    // Raw key instead of ring's key schedule + GHASH table: a few hundred octets per SA.
    assert!(
        core::mem::size_of::<Sa>() <= 384,
        "{}",
        core::mem::size_of::<Sa>()
    );
    let bad_key = [0u8; 7];
    let r = Sa::new_compact(&SaConfig {
        spi: 1,
        mode: Mode::Transport,
        algorithm: Algorithm::AesGcm128,
        key: &bad_key,
        integrity_key: None,
        esn: false,
        udp_encap: None,
        tunnel: None,
    });
    assert!(matches!(r, Err(EspError::InvalidConfig(_))));
}

#[test]
fn directional_sas_behave_as_full_ones_in_their_direction() {
    // The HA's MH signalling pair: an inbound SA with the window and no counters, an
    // outbound one with neither. Same packets out, same acceptance and refusals in (replay
    // incl. a 1024-packet window, ESN, tampering); an outbound-only SA decrypts nothing.
    let e1 = hex(E1);
    for esn in [false, true] {
        for alg in ALGS {
            let aead = matches!(
                alg,
                Algorithm::AesGcm128 | Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305
            );
            let mut full_tx: Sa = compact_sa_esn(alg, esn);
            let mut full_rx: Sa = compact_sa_esn(alg, esn);
            let mut tx: SaCore<TxOnly> = compact_sa_esn(alg, esn);
            let mut rx: SaCore<RxOnly> = compact_sa_esn(alg, esn);
            assert_eq!(rx.replay_window_size(), 1024);
            assert_eq!(tx.replay_window_size(), 0);
            if esn {
                // Near the 2^32 boundary: Seq-high inference must work in the compact SA.
                full_tx.set_seq_out(u64::from(u32::MAX) - 2);
                tx.set_seq_out(u64::from(u32::MAX) - 2);
                full_rx.set_replay_top(u64::from(u32::MAX) - 1100);
                rx.set_replay_top(u64::from(u32::MAX) - 1100);
            }
            let mut sent = Vec::new();
            for _ in 0..5 {
                let a = enc(&mut full_tx, &e1).unwrap();
                let b = enc(&mut tx, &e1).unwrap();
                if aead {
                    assert_eq!(a, b, "{alg:?}");
                }
                assert_eq!(dec(&mut rx, &b).unwrap(), e1, "{alg:?}");
                assert_eq!(dec(&mut full_rx, &a).unwrap(), e1, "{alg:?}");
                sent.push(b);
            }
            assert_eq!(rx.replay_top(), full_rx.replay_top());
            for b in &sent {
                let seq = rx.replay_top(); // any earlier one: a replay
                assert!(matches!(dec(&mut rx, b), Err(EspError::Replayed(s)) if s <= seq));
            }
            let mut bad = enc(&mut tx, &e1).unwrap();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert_eq!(dec(&mut rx, &bad), Err(EspError::IntegrityCheckFailed));
            // The outbound-only SA refuses to decrypt, even its own peer's packets.
            assert!(matches!(
                dec(&mut tx, &sent[0]),
                Err(EspError::InvalidConfig(_))
            ));
        }
    }
    // A packet 1024 behind the top is outside the window (RFC 4303 §3.4.3), 1023 inside.
    let mut tx: SaCore<TxOnly> = compact_sa(Algorithm::AesGcm128);
    let mut rx: SaCore<RxOnly> = compact_sa(Algorithm::AesGcm128);
    let first = enc(&mut tx, &e1).unwrap();
    let second = enc(&mut tx, &e1).unwrap();
    tx.set_seq_out(1024);
    let at_1025 = enc(&mut tx, &e1).unwrap();
    assert!(dec(&mut rx, &at_1025).is_ok());
    assert_eq!(dec(&mut rx, &first), Err(EspError::Replayed(1)));
    assert_eq!(dec(&mut rx, &second).unwrap(), e1);
}

#[test]
fn directional_sas_are_smaller() {
    let (full, rx, tx) = (
        core::mem::size_of::<Sa>(),
        core::mem::size_of::<SaCore<RxOnly>>(),
        core::mem::size_of::<SaCore<TxOnly>>(),
    );
    // Inbound: the 128-octet bitmap and its top stay; the 96 octets of counters go.
    assert!(rx + 96 <= full, "{rx} {full}");
    // Outbound: no window either.
    assert!(tx + 96 + 136 <= full, "{tx} {full}");
    // Outer tunnel addresses are boxed (transport-mode SAs carry 8 octets for them).
    assert!(rx + tx <= 296, "{rx} + {tx}");
}
