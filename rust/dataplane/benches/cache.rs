//! Binding cache with 1 M entries: lookup hit / miss, insert, and memory per entry (RSS
//! growth while filling, read from /proc/self/statm; printed before the groups).

use std::net::{Ipv4Addr, Ipv6Addr};

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dsmip6_dataplane::cache::{Binding, BindingCache, CareOf, Encapsulation, Instant};

const N: u32 = 1_000_000;

fn binding(i: u32) -> Binding {
    let hi = (i >> 16) as u16;
    let lo = i as u16;
    Binding {
        home_address: Ipv6Addr::new(0x2001, 0xdb8, hi, lo, 0, 0, 0, 0x1000),
        home_prefix: Ipv6Addr::new(0x2001, 0xdb8, hi, lo, 0, 0, 0, 0),
        prefix_len: 64,
        ipv4_home_address: Some(Ipv4Addr::from(0x0a00_0000 + i)),
        care_of: CareOf::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xffff, hi, lo, 0, 0, 1)),
        encapsulation: Encapsulation::IpInIpv6,
        lifetime: 3600.0,
        expires_at: Instant(3_600_000_000),
        sequence: 1,
        flags: 0,
        sa_in: None,
        sa_out: None,
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn spread(i: u64) -> u32 {
    // A fixed permutation-ish walk so successive lookups hit unrelated shards and lines.
    (i.wrapping_mul(0x9e37_79b9) % u64::from(N)) as u32
}

fn cache(c: &mut Criterion) {
    let before = rss_bytes();
    let bc = BindingCache::new();
    for i in 0..N {
        bc.insert(binding(i)).unwrap();
    }
    let after = rss_bytes();
    println!(
        "binding cache: {N} entries (HoA, /64 prefix, IPv4 HoA, inbound CoA indexes): RSS +{} MiB = {} bytes/entry",
        (after - before) >> 20,
        (after - before) / u64::from(N)
    );
    let mut g = c.benchmark_group("binding_cache_1M");
    let mut k = 0u64;
    g.bench_function("lookup_hit_hoa", |b| {
        b.iter(|| {
            k += 1;
            black_box(bc.get(binding(spread(k)).home_address))
        });
    });
    // The same lookups over 1000 hot entries (cache-resident): the cost without DRAM misses.
    g.bench_function("lookup_hit_hoa_hot1000", |b| {
        b.iter(|| {
            k += 1;
            black_box(bc.get(binding(spread(k % 1000)).home_address))
        });
    });
    g.bench_function("lookup_hit_prefix_lpm", |b| {
        b.iter(|| {
            k += 1;
            let i = spread(k);
            black_box(bc.lookup_v6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                (i >> 16) as u16,
                i as u16,
                1,
                2,
                3,
                4,
            )))
        });
    });
    g.bench_function("lookup_miss", |b| {
        b.iter(|| {
            k += 1;
            let i = spread(k);
            black_box(bc.get(Ipv6Addr::new(
                0x2001,
                0xdb9,
                (i >> 16) as u16,
                i as u16,
                0,
                0,
                0,
                0x1000,
            )))
        });
    });
    g.bench_function("lookup_v4", |b| {
        b.iter(|| {
            k += 1;
            black_box(bc.lookup_v4(Ipv4Addr::from(0x0a00_0000 + spread(k))))
        });
    });
    // Insert into a cache already holding 1 M entries; the inserted keys are removed again
    // outside the timed part, so memory stays bounded.
    g.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let chunk = (iters - done).min(10_000) as u32;
                let fresh: Vec<Binding> = (0..chunk).map(|j| binding(N + j)).collect();
                let t = std::time::Instant::now();
                for x in &fresh {
                    bc.insert(*x).unwrap();
                }
                total += t.elapsed();
                for x in &fresh {
                    bc.remove(x.home_address).unwrap();
                }
                done += u64::from(chunk);
            }
            total
        });
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_secs(1));
    targets = cache
}
criterion_main!(benches);
