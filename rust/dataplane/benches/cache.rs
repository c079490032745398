//! Binding cache with 1 M entries: lookup hit / miss, insert, and memory per entry (RSS
//! growth while filling, read from /proc/self/statm; printed before the groups), each beside
//! the same-run baseline std `HashMap<Ipv6Addr, Binding>` (HoA index only).
//!
//! Every figure is per lookup / per insert. The `*_batch32` rows use the batch API
//! (`get_batch`, `lookup_v6_batch`: 32 lookups in flight, prefetched) and are reported
//! apart from the single-lookup rows.
//!
//! Clock: wall time by default; `DSMIP6_BENCH_CLOCK=cpu` times every row (baseline
//! included) with the thread's CPU clock instead, which leaves out the time the thread
//! spends preempted on a shared machine (caches and TLB still suffer from the neighbours).

use std::net::{Ipv4Addr, Ipv6Addr};

use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use dsmip6_dataplane::cache::{Binding, BindingCache, CareOf, Encapsulation, Instant};

const N: u32 = 1_000_000;
/// Lookups per batch call.
const BN: usize = 32;

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

/// A start time on the selected clock (see the module comment).
fn now() -> Duration {
    if std::env::var_os("DSMIP6_BENCH_CLOCK").is_some_and(|v| v == "cpu") {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to the valid pointer it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    } else {
        std::time::UNIX_EPOCH.elapsed().unwrap_or_default()
    }
}

/// Time `iters` calls of `f` on the selected clock.
fn timed<R>(iters: u64, mut f: impl FnMut() -> R) -> Duration {
    let t = now();
    for _ in 0..iters {
        black_box(f());
    }
    now().saturating_sub(t)
}

/// AnonHugePages of this process (kB), from /proc/self/smaps_rollup.
fn anon_huge_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
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
        "binding cache: {N} entries (HoA, /64 prefix, IPv4 HoA, inbound CoA indexes): RSS +{} MiB = {} bytes/entry ({} MiB on huge pages)",
        (after - before) >> 20,
        (after - before) / u64::from(N),
        anon_huge_kb() >> 10
    );
    // Same-run baseline: std HashMap<Ipv6Addr, Binding> (SipHash), the same 1 M bindings keyed
    // by HoA only (one index instead of five).
    let before = rss_bytes();
    let mut std_map: std::collections::HashMap<Ipv6Addr, Binding> =
        std::collections::HashMap::new();
    for i in 0..N {
        let b = binding(i);
        std_map.insert(b.home_address, b);
    }
    let after = rss_bytes();
    println!(
        "baseline std HashMap<Ipv6Addr, Binding>, {N} entries (HoA index only): RSS +{} MiB = {} bytes/entry",
        (after - before) >> 20,
        (after - before) / u64::from(N)
    );
    let mut g = c.benchmark_group("harness");
    // What every row below spends on making its key (to subtract when reading them).
    g.bench_function("key_generation_only", |b| {
        let mut k = 0u64;
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                binding(spread(k)).home_address
            })
        });
    });
    g.finish();
    let mut g = c.benchmark_group("baseline_std_hashmap_1M");
    let mut k = 0u64;
    g.bench_function("lookup_hit_hoa", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                black_box(std_map.get(&binding(spread(k)).home_address).copied())
            })
        });
    });
    g.bench_function("lookup_miss", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                let i = spread(k);
                black_box(
                    std_map
                        .get(&Ipv6Addr::new(
                            0x2001,
                            0xdb9,
                            (i >> 16) as u16,
                            i as u16,
                            0,
                            0,
                            0,
                            0x1000,
                        ))
                        .copied(),
                )
            })
        });
    });
    g.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let chunk = (iters - done).min(10_000) as u32;
                let fresh: Vec<Binding> = (0..chunk).map(|j| binding(N + j)).collect();
                let t = now();
                for x in &fresh {
                    std_map.insert(x.home_address, *x);
                }
                total += now().saturating_sub(t);
                for x in &fresh {
                    std_map.remove(&x.home_address);
                }
                done += u64::from(chunk);
            }
            total
        });
    });
    g.finish();
    drop(std_map);

    let mut g = c.benchmark_group("binding_cache_1M");
    g.bench_function("lookup_hit_hoa", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                black_box(bc.get(binding(spread(k)).home_address))
            })
        });
    });
    // The same lookups over 1000 hot entries (cache-resident): the cost without DRAM misses.
    g.bench_function("lookup_hit_hoa_hot1000", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                black_box(bc.get(binding(spread(k % 1000)).home_address))
            })
        });
    });
    g.bench_function("lookup_hit_prefix_lpm", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
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
            })
        });
    });
    g.bench_function("lookup_miss", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
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
            })
        });
    });
    g.bench_function("lookup_v4", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                k += 1;
                black_box(bc.lookup_v4(Ipv4Addr::from(0x0a00_0000 + spread(k))))
            })
        });
    });
    // The batch API (the forwarding engine's path): 32 lookups in flight, prefetched. Fresh
    // random keys as above; the figure is per lookup.
    let mut out = Vec::with_capacity(BN);
    let mut batch_rows =
        |g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
         name: &str,
         addr: fn(u32) -> Ipv6Addr,
         lpm: bool| {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let batches = iters.div_ceil(BN as u64).max(1);
                    let t = now();
                    for _ in 0..batches {
                        let mut a = [Ipv6Addr::UNSPECIFIED; BN];
                        for x in &mut a {
                            k += 1;
                            *x = addr(spread(k));
                        }
                        out.clear();
                        if lpm {
                            bc.lookup_v6_batch(&a, &mut out);
                        } else {
                            bc.get_batch(&a, &mut out);
                        }
                        black_box(&out);
                    }
                    now()
                        .saturating_sub(t)
                        .mul_f64(iters as f64 / (batches * BN as u64) as f64)
                });
            });
        };
    batch_rows(
        &mut g,
        "lookup_hit_hoa_batch32",
        |i| binding(i).home_address,
        false,
    );
    batch_rows(
        &mut g,
        "lookup_miss_batch32",
        |i| Ipv6Addr::new(0x2001, 0xdb9, (i >> 16) as u16, i as u16, 0, 0, 0, 0x1000),
        false,
    );
    batch_rows(
        &mut g,
        "lookup_hit_prefix_lpm_batch32",
        |i| Ipv6Addr::new(0x2001, 0xdb8, (i >> 16) as u16, i as u16, 1, 2, 3, 4),
        true,
    );
    // Insert into a cache already holding 1 M entries; the inserted keys are removed again
    // outside the timed part, so memory stays bounded.
    g.bench_function("insert", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut done = 0u64;
            while done < iters {
                let chunk = (iters - done).min(10_000) as u32;
                let fresh: Vec<Binding> = (0..chunk).map(|j| binding(N + j)).collect();
                let t = now();
                for x in &fresh {
                    bc.insert(*x).unwrap();
                }
                total += now().saturating_sub(t);
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
