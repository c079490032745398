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
//! Session 9 adds `rebatch` (the criterion bench's `insert_batch` row as it runs: the same
//! 10 000 bindings inserted per chunk, removed untimed), `floor_insert` and `floor_hit` (the
//! operation-shaped floors of `benches/floor/shapes.rs`) and `prefetch_check` (whether a
//! software prefetch hint brings lines in on this machine; `n` lines, `iters` rounds).
//!
//! Operations: get_hit get_miss view_hit view_miss v4 batch_hit batch_miss vbatch_hit
//! vbatch_miss insert insert_batch reinsert reinsert_batch none batch_none, and bbatch_hit bbatch_miss bvbatch_hit
//! bvbatch_miss bbatch_none (batches read from a buffer of `n` addresses built first) (`none`: only the harness's own work, the
//! input vector every operation builds; `batch_none`: that and the batches' keys, built as
//! for the batch operations, with no lookup). For inserts keep `n + iters` inside one table size and
//! record-id width (e.g. n = 110 000 with 5 000 and 15 000), or table growth is counted
//! too; `--toggle-collect='*timed_inserts*'` counts the inserts alone (total / iters), and
//! `--toggle-collect='*timed_lookups*'` the buffered batch lookups alone (session 11). With
//! `TIME=1` it prints the thread CPU time per operation.
//!
//! Session 12: `V128=k` makes every `k`-th binding (`i % k == 0`) a /128 one (a mixed
//! population: those bindings have a key in the HoA index, the others none).
use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use dsmip6_dataplane::cache::{Binding, BindingCache, CareOf, Encapsulation, Instant};

#[path = "../benches/floor/shapes.rs"]
#[allow(dead_code)]
mod shapes;

/// `V128` (see the module text): 0 for none.
fn v128() -> u32 {
    static K: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *K.get_or_init(|| {
        std::env::var("V128")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    })
}

fn binding(i: u32) -> Binding {
    let hi = (i >> 16) as u16;
    let lo = i as u16;
    let k = v128();
    if k != 0 && i.is_multiple_of(k) {
        let mut b = binding_64(i, hi, lo);
        (b.prefix_len, b.home_prefix) = (128, b.home_address);
        return b;
    }
    binding_64(i, hi, lo)
}

fn binding_64(i: u32, hi: u16, lo: u16) -> Binding {
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

/// The buffered batch lookups (`bbatch_*`, `bvbatch_*`), out of line so that callgrind can
/// count them alone, as [`timed_inserts`] (session 11: the fill's count varies with the
/// cache's random hash seed by more than a lookup's count over a 64 000-key difference):
/// `--toggle-collect='*timed_lookups*'`, divided by `iters`.
#[inline(never)]
fn timed_lookups(
    bc: &BindingCache,
    op: &str,
    buf: &[Ipv6Addr],
    iters: u32,
    out: &mut Vec<Option<Binding>>,
    views: &mut Vec<Option<dsmip6_dataplane::cache::BindingView>>,
) {
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
            bc.get_view_batch(x, views);
        } else {
            bc.get_batch(x, out);
        }
        black_box((&out, &views));
    }
}

/// The single lookups (`get_hit`, `get_miss`, `view_hit`, `view_miss`), out of line so that
/// callgrind can count them alone (session 12), as [`timed_lookups`]:
/// `--toggle-collect='*timed_single*'`, divided by `iters`.
#[inline(never)]
fn timed_single(bc: &BindingCache, op: &str, keys: &[Ipv6Addr]) {
    match op {
        "get_hit" | "get_miss" => keys.iter().for_each(|a| {
            black_box(bc.get(*a));
        }),
        _ => keys.iter().for_each(|a| {
            black_box(bc.get_view(*a));
        }),
    }
}

/// See the `prefetch_check` operation.
#[cfg(target_arch = "x86_64")]
fn prefetch_check(lines: usize, rounds: u32) {
    use core::arch::x86_64::{
        _mm_clflush, _mm_lfence, _mm_mfence, _mm_prefetch, _rdtsc, _MM_HINT_T0,
    };
    let mut a = shapes::Lines::new(lines, true);
    let w = a.words();
    w.fill(1);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for count in [8usize, 16, 32, 64, 128] {
        let mut line = format!("prefetch_check {count} lines:");
        for (name, mode) in [("prefetcht0", 0), ("load", 1), ("nothing", 2)] {
            let mut total = 0u64;
            for _ in 0..rounds {
                let idx: Vec<usize> = (0..count)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % lines as u64) as usize * 8
                    })
                    .collect();
                // SAFETY: CLFLUSH of lines inside `w` (indices below `lines * 8`), then a
                // fence; neither changes memory contents.
                unsafe {
                    for &i in &idx {
                        _mm_clflush(w.as_ptr().add(i).cast::<u8>());
                    }
                    _mm_mfence();
                }
                match mode {
                    // SAFETY: a prefetch hint never faults and changes no program state.
                    0 => idx.iter().for_each(|&i| unsafe {
                        _mm_prefetch(w.as_ptr().add(i).cast::<i8>(), _MM_HINT_T0);
                    }),
                    1 => {
                        black_box(idx.iter().fold(0u64, |s, &i| s ^ black_box(w[i])));
                    }
                    _ => {}
                }
                // SAFETY: RDTSC only reads the time-stamp counter.
                let t = unsafe { _rdtsc() };
                // SAFETY: as above.
                while unsafe { _rdtsc() } - t < 4000 {
                    core::hint::spin_loop();
                }
                // SAFETY: LFENCE waits for every earlier instruction (dispatch-serialising
                // on AMD under Linux) and RDTSC only reads the time-stamp counter.
                let t = unsafe {
                    _mm_lfence();
                    _rdtsc()
                };
                black_box(idx.iter().fold(0u64, |s, &i| s.wrapping_add(w[i])));
                // SAFETY: as above: the reads above complete before the counter is read.
                total += unsafe {
                    _mm_lfence();
                    _rdtsc()
                } - t;
            }
            line += &format!(" {name} {}", total / u64::from(rounds.max(1)));
        }
        println!("{line} (TSC cycles to read them all after it)");
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_check(_: usize, _: u32) {}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let op = a[1].as_str();
    let n: u32 = a[2].parse().unwrap();
    let iters: u32 = a[3].parse().unwrap();
    let bc = BindingCache::new();
    // The floors (session 9) touch arrays of their own: no cache to fill.
    if !op.starts_with("floor") {
        for i in 0..n {
            bc.insert(binding(i)).unwrap();
        }
    }
    let spread = |k: u32| (u64::from(k).wrapping_mul(0x9e37_79b9) % u64::from(n)) as u32;
    let mut out = Vec::with_capacity(32);
    let mut views = Vec::with_capacity(32);
    let mut res = Vec::with_capacity(32);
    // The inserts' bindings (built for insert operations only).
    let fresh: Vec<Binding> = if op.contains("insert") && !op.starts_with("floor") {
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
        // Keys built first (session 12: counted apart from the lookups, see `timed_single`).
        "get_hit" | "get_miss" | "view_hit" | "view_miss" => {
            let keys: Vec<Ipv6Addr> = (0..iters)
                .map(|k| {
                    if op.ends_with("hit") {
                        binding(spread(k)).home_address
                    } else {
                        miss(spread(k))
                    }
                })
                .collect();
            timed_single(&bc, op, &keys);
        }
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
            timed_lookups(&bc, op, &buf, iters, &mut out, &mut views);
        }
        "insert" => timed_inserts(&bc, &fresh, false, &mut res),
        "insert_batch" => timed_inserts(&bc, &fresh, true, &mut res),
        // As the criterion bench's insert rows: the keys were inserted and removed before
        // timing (below), so their stale filter bits make every filter word say "maybe".
        "reinsert" | "reinsert_batch" => {
            timed_inserts(&bc, &fresh, op == "reinsert_batch", &mut res);
        }
        "none" => {}
        // Session 9: the criterion bench's `insert_batch` row as it runs: the same 10 000
        // keys inserted per chunk, removed again untimed, `iters` inserts in all (timed:
        // the inserts only).
        "rebatch" | "floor_insert" => {
            let chunk = 10_000.min(iters as usize);
            let keys: Vec<Binding> = (0..chunk as u32).map(|j| binding(n + j)).collect();
            let mut floor = (op == "floor_insert")
                .then(|| shapes::InsertShaped::new(n as usize + chunk, n as usize + chunk));
            let mut timed = 0.0;
            let mut done = 0usize;
            while done < iters as usize {
                let c = chunk.min(iters as usize - done);
                let t = cpu();
                if let Some(f) = floor.as_mut() {
                    f.insert(&keys[..c], n as usize);
                } else {
                    res.clear();
                    bc.insert_batch(&keys[..c], &mut res);
                }
                timed += cpu() - t;
                if let Some(f) = floor.as_mut() {
                    f.undo(&keys[..c], n as usize);
                } else {
                    assert!(res.iter().all(Result::is_ok));
                    for b in &keys[..c] {
                        bc.remove(b.home_address).unwrap();
                    }
                }
                done += c;
            }
            if std::env::var_os("TIME").is_some() {
                println!("{op} {:.1} ns/op (inserts only)", timed / f64::from(iters));
            }
            return;
        }
        // Session 9: how many software prefetch hints issued together bring their lines in
        // on this machine. 8, 16, 32, 64, then 128 random lines of an `n`-line array (2 MiB
        // pages) are flushed from the caches, then hinted with PREFETCHT0, or loaded, or
        // left alone; after a wait of 4 000 TSC cycles all are read and the read's TSC
        // cycles printed (mean of `iters` rounds): hinted lines read as fast as loaded ones
        // if the hints were heeded, as slowly as untouched ones if they were dropped.
        "prefetch_check" => {
            prefetch_check(n as usize, iters);
            return;
        }
        // Session 9: the hit floor over a buffer of `n` addresses, 32 per call (as
        // `bvbatch_hit`).
        "floor_hit" => {
            let buf: Vec<Ipv6Addr> = (0..n).map(|k| binding(spread(k)).home_address).collect();
            let mut f = shapes::HitShaped::new((0..n).map(|i| binding(i).home_address), n as usize);
            let t = cpu();
            let mut at = 0usize;
            for _ in 0..iters / 32 {
                if at + 32 > buf.len() {
                    at = 0;
                }
                black_box(f.batch(&buf[at..at + 32]));
                at += 32;
            }
            if std::env::var_os("TIME").is_some() {
                println!("{op} {:.1} ns/op", (cpu() - t) / f64::from(iters));
            }
            return;
        }
        _ => panic!("op"),
    }
    if std::env::var_os("TIME").is_some() {
        println!("{op} {:.1} ns/op", (cpu() - t0) / f64::from(iters));
    }
}
