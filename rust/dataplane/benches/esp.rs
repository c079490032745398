//! ESP throughput: AES-128-GCM (and the other transforms at 1400 octets), single packet vs
//! batch, over the packet sizes of STYLE §6. Baseline in the same run: `openssl speed` for
//! AES-128-GCM at 1400 octets (printed before the groups).

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use dsmip6_dataplane::esp::{Algorithm, Batch, Mode, Sa, SaConfig, MAX_OVERHEAD};

const BATCH: usize = 64;

fn packet(len: usize) -> Vec<u8> {
    // IPv6 header + zero payload of `len - 40` octets, next header 17.
    let mut p = vec![0u8; len.max(48)];
    p[0] = 0x60;
    let plen = (p.len() - 40) as u16;
    p[4..6].copy_from_slice(&plen.to_be_bytes());
    p[6] = 17;
    p[7] = 64;
    p
}

fn sa(alg: Algorithm) -> Sa {
    let (key, ik): (Vec<u8>, Option<Vec<u8>>) = match alg {
        Algorithm::AesGcm128 => (vec![7; 20], None),
        Algorithm::AesGcm256 | Algorithm::ChaCha20Poly1305 => (vec![7; 36], None),
        Algorithm::AesCbcHmacSha256 => (vec![7; 16], Some(vec![9; 32])),
        Algorithm::Null => (Vec::new(), Some(vec![9; 32])),
    };
    Sa::new(&SaConfig {
        spi: 0x1001,
        mode: Mode::Tunnel,
        algorithm: alg,
        key: &key,
        integrity_key: ik.as_deref(),
        esn: true,
        udp_encap: None,
        tunnel: Some((
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )),
    })
    .unwrap()
}

fn openssl_baseline() {
    let out = std::process::Command::new("openssl")
        .args([
            "speed",
            "-elapsed",
            "-seconds",
            "1",
            "-bytes",
            "1400",
            "-aead",
            "-evp",
            "aes-128-gcm",
        ])
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            if let Some(line) = text.lines().find(|l| l.starts_with("AES-128-GCM")) {
                println!("baseline openssl speed 1400 B: {line}");
            }
        }
        Err(e) => println!("baseline openssl speed: not run ({e})"),
    }
}

fn gcm_sizes(c: &mut Criterion) {
    openssl_baseline();
    let mut g = c.benchmark_group("esp_aes128gcm");
    for size in [64usize, 576, 1280, 1400, 1500] {
        let pkts: Vec<Vec<u8>> = (0..BATCH).map(|_| packet(size)).collect();
        g.throughput(Throughput::Bytes((size * BATCH) as u64));
        let mut tx = sa(Algorithm::AesGcm128);
        let mut batch = Batch::default();
        g.bench_with_input(BenchmarkId::new("encrypt_batch", size), &pkts, |b, pkts| {
            b.iter(|| tx.encrypt_batch(pkts.iter().map(Vec::as_slice), black_box(&mut batch)));
        });
        let mut out = vec![0u8; size + MAX_OVERHEAD];
        g.bench_with_input(
            BenchmarkId::new("encrypt_single", size),
            &pkts,
            |b, pkts| {
                b.iter(|| {
                    for p in pkts {
                        black_box(tx.encrypt_into(p, &mut out).unwrap());
                    }
                });
            },
        );
        // Decrypt: a fresh batch of wires each iteration would replay; decrypt the same
        // batch with a window reset (replay state is not what is measured here).
        let mut tx2 = sa(Algorithm::AesGcm128);
        let mut wires = Batch::default();
        tx2.encrypt_batch(pkts.iter().map(Vec::as_slice), &mut wires);
        let wire_list: Vec<Vec<u8>> = (0..BATCH).map(|i| wires.get(i).unwrap().to_vec()).collect();
        let mut rx = sa(Algorithm::AesGcm128);
        let mut dec = Batch::default();
        g.bench_with_input(
            BenchmarkId::new("decrypt_batch", size),
            &wire_list,
            |b, w| {
                b.iter(|| {
                    rx.set_replay_top(0);
                    rx.decrypt_batch(w.iter().map(Vec::as_slice), black_box(&mut dec));
                    debug_assert!(dec.items.iter().all(Result::is_ok));
                });
            },
        );
    }
    g.finish();
}

fn algorithms_1400(c: &mut Criterion) {
    let mut g = c.benchmark_group("esp_1400_by_algorithm");
    let pkts: Vec<Vec<u8>> = (0..BATCH).map(|_| packet(1400)).collect();
    g.throughput(Throughput::Bytes((1400 * BATCH) as u64));
    for alg in [
        Algorithm::AesGcm128,
        Algorithm::AesGcm256,
        Algorithm::ChaCha20Poly1305,
        Algorithm::AesCbcHmacSha256,
        Algorithm::Null,
    ] {
        let mut tx = sa(alg);
        let mut batch = Batch::default();
        g.bench_function(BenchmarkId::new("encrypt_batch", alg.name()), |b| {
            b.iter(|| tx.encrypt_batch(pkts.iter().map(Vec::as_slice), black_box(&mut batch)));
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_secs(1));
    targets = gcm_sizes, algorithms_1400
}
criterion_main!(benches);
