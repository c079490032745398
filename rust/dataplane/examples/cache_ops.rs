//! Instruction-count harness for the binding cache: fill it with `n` bindings (as the
//! criterion bench does), then run one operation `iters` times and nothing else, so that
//! callgrind's instruction count for two run lengths gives the count per operation:
//!
//! ```text
//! cargo build --release -p dsmip6-dataplane --example cache_ops
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/examples/cache_ops get_hit 200000 32000   # and 96000: divide the
//!                                                               # difference by 64000
//! ```
//!
//! Operations: get_hit get_miss view_hit view_miss v4 batch_hit batch_miss vbatch_hit
//! vbatch_miss insert insert_batch reinsert reinsert_batch none batch_none, and bbatch_hit bbatch_miss bvbatch_hit
//! bvbatch_miss bbatch_none (batches read from a buffer of `n` addresses built first) (`none`: only the harness's own work, the
//! input vector every operation builds; `batch_none`: that and the batches' keys, built as
//! for the batch operations, with no lookup). For inserts keep `n + iters` inside one table size and
//! record-id width (e.g. n = 110 000 with 5 000 and 15 000), or table growth is counted
//! too; `--toggle-collect='*timed_inserts*'` counts the inserts alone (total / iters). With
//! `TIME=1` it prints the thread CPU time per operation.
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use dsmip6_dataplane::cache::{Binding, BindingCache, CareOf, Encapsulation, Instant};

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
fn miss(i: u32) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb9, (i >> 16) as u16, i as u16, 0, 0, 0, 0x1000)
}

/// The insert operations, out of line so that callgrind can count them alone, without the
/// fill (whose count varies by a few hundred thousand instructions with the cache's random
/// hash seed): `valgrind --tool=callgrind --toggle-collect='*timed_inserts*' ...`, divided
/// by `iters`.
#[inline(never)]
fn timed_inserts(
    bc: &BindingCache,
    fresh: &[Binding],
    batch: bool,
    res: &mut Vec<Result<(), dsmip6_dataplane::cache::CacheError>>,
) {
    if batch {
        for c in fresh.chunks(32) {
            res.clear();
            bc.insert_batch(c, res);
            black_box(&res);
        }
    } else {
        fresh.iter().for_each(|b| bc.insert(*b).unwrap());
    }
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let op = a[1].as_str();
    let n: u32 = a[2].parse().unwrap();
    let iters: u32 = a[3].parse().unwrap();
    let bc = BindingCache::new();
    for i in 0..n {
        bc.insert(binding(i)).unwrap();
    }
    let spread = |k: u32| (u64::from(k).wrapping_mul(0x9e37_79b9) % u64::from(n)) as u32;
    let mut out = Vec::with_capacity(32);
    let mut views = Vec::with_capacity(32);
    let mut res = Vec::with_capacity(32);
    // The inserts' bindings (built for insert operations only).
    let fresh: Vec<Binding> = if op.contains("insert") {
        (0..iters).map(|j| binding(n + j)).collect()
    } else {
        Vec::new()
    };
    let cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec to the valid pointer it is given.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
    };
    if op.starts_with("reinsert") {
        for b in &fresh {
            bc.insert(*b).unwrap();
        }
        for b in &fresh {
            bc.remove(b.home_address).unwrap();
        }
    }
    let t0 = cpu();
    match op {
        "get_hit" => (0..iters).for_each(|k| {
            black_box(bc.get(binding(spread(k)).home_address));
        }),
        "get_miss" => (0..iters).for_each(|k| {
            black_box(bc.get(miss(spread(k))));
        }),
        "view_hit" => (0..iters).for_each(|k| {
            black_box(bc.get_view(binding(spread(k)).home_address));
        }),
        "view_miss" => (0..iters).for_each(|k| {
            black_box(bc.get_view(miss(spread(k))));
        }),
        "v4" => (0..iters).for_each(|k| {
            black_box(bc.lookup_v4(Ipv4Addr::from(0x0a00_0000 + spread(k))));
        }),
        "batch_hit" | "batch_miss" | "vbatch_hit" | "vbatch_miss" | "batch_none" => {
            for c in 0..iters / 32 {
                let mut x = [Ipv6Addr::UNSPECIFIED; 32];
                for (j, y) in x.iter_mut().enumerate() {
                    let s = spread(c * 32 + j as u32);
                    *y = if op.ends_with("hit") {
                        binding(s).home_address
                    } else {
                        miss(s)
                    };
                }
                out.clear();
                views.clear();
                if op == "batch_none" {
                    black_box(&x);
                } else if op.starts_with('v') {
                    bc.get_view_batch(&x, &mut views)
                } else {
                    bc.get_batch(&x, &mut out)
                }
                black_box((&out, &views));
            }
        }
        // Keys from buffers of `n` addresses built before the operations (their size does
        // not depend on `iters`, so the difference of two runs leaves them out).
        "bbatch_hit" | "bbatch_miss" | "bvbatch_hit" | "bvbatch_miss" | "bbatch_none" => {
            let hit = op.ends_with("hit");
            let buf: Vec<Ipv6Addr> = (0..n)
                .map(|k| {
                    if hit {
                        binding(spread(k)).home_address
                    } else {
                        miss(spread(k))
                    }
                })
                .collect();
            let mut at = 0usize;
            for _ in 0..iters / 32 {
                if at + 32 > buf.len() {
                    at = 0;
                }
                let x = &buf[at..at + 32];
                at += 32;
                out.clear();
                views.clear();
                if op == "bbatch_none" {
                    black_box(x);
                } else if op.starts_with("bv") {
                    bc.get_view_batch(x, &mut views)
                } else {
                    bc.get_batch(x, &mut out)
                }
                black_box((&out, &views));
            }
        }
        "insert" => timed_inserts(&bc, &fresh, false, &mut res),
        "insert_batch" => timed_inserts(&bc, &fresh, true, &mut res),
        // As the criterion bench's insert rows: the keys were inserted and removed before
        // timing (below), so their stale filter bits make every filter word say "maybe".
        "reinsert" | "reinsert_batch" => {
            timed_inserts(&bc, &fresh, op == "reinsert_batch", &mut res);
        }
        "none" => {}
        _ => panic!("op"),
    }
    if std::env::var_os("TIME").is_some() {
        println!("{op} {:.1} ns/op", (cpu() - t0) / f64::from(iters));
    }
}
