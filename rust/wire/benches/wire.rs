//! Criterion benches for the codec (STYLE §6): parse + checksum of the DSMIPv6 Binding Update
//! from an IPv6 care-of address (HAO + Alternate CoA + IPv4 HoA: test-vectors.md §6 E1), the
//! same BU over IPv4/UDP 4191 (E3), emission, and UDP-4191-tunnelled packets of growing size.
//!
//! Time is the benchmark thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`, read once per sample),
//! so the figures are per core even on a machine shared with other work.

use core::net::{Ipv4Addr, Ipv6Addr};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use dsmip6_wire::ipv6opt::{Ipv6OptionRepr, Ipv6Options};
use dsmip6_wire::mh::bu_flags;
use dsmip6_wire::mhopt::MobilityOptionRepr as O;
use dsmip6_wire::packet::{emit_packet, packet_len};
use dsmip6_wire::*;
use std::time::Duration;

/// CPU time of the current thread, in nanoseconds (CLOCK_THREAD_CPUTIME_ID).
fn thread_cpu_ns() -> u64 {
    cpu_time::ThreadTime::now().as_duration().as_nanos() as u64
}

/// A criterion measurement of thread CPU time.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = Duration;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(thread_cpu_ns().saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WallTime.formatter()
    }
}

type C = Criterion<CpuTime>;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const E1: &str = "6000000000403c4020010db800020000000000000000010020010db8000100000000000000000001
    870201020000c91020010db80001000000000000000010003b040500ac3f0001d44003841d068000
    000000000100031020010db8000200000000000000000100";
const E3: &str = "45000064000000004011144dc6336407cb007101105f105f00509199600000000020874020010db8
    00010000000000000000100020010db80001000000000000000000013b030500d2040002d4000384
    1d068000c000020a20060000c633640701020000";

fn bu_layers<'a>(opts: &'a [O<'a>], hao: &'a [Ipv6OptionRepr<'a>]) -> [Layer<'a>; 3] {
    let coa: Ipv6Addr = "2001:db8:2::100".parse().unwrap();
    let ha: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    [
        Layer::Ipv6(Ipv6Repr {
            src_addr: coa,
            dst_addr: ha,
            next_header: IpProtocol::Ipv6Opts,
            payload_len: 0,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }),
        Layer::DestOpts(DestOptsRepr {
            next_header: IpProtocol::Mobility,
            options: Ipv6Options::List(hao),
        }),
        Layer::Mobility(MobilityRepr {
            message: MhMessage::BindingUpdate {
                sequence: 1,
                flags: bu_flags::A | bu_flags::H | bu_flags::K | bu_flags::R | bu_flags::O,
                lifetime_4s: 900,
            },
            options: MobilityOptions::List(opts),
        }),
    ]
}

fn parse_bu(c: &mut C) {
    let mut g = c.benchmark_group("parse+checksum");
    g.throughput(Throughput::Elements(1));
    let e1 = hex(E1);
    let e3 = hex(E3);
    g.bench_function("BU HAO+AltCoA+IPv4HoA (IPv6, E1)", |b| {
        b.iter(|| parse_packet_with(black_box(&e1), |_, _| Ok(())).is_ok())
    });
    g.bench_function("BU HAO+AltCoA+IPv4HoA (IPv6, E1), layers collected", |b| {
        b.iter(|| parse_packet(black_box(&e1)).map(|l| l.len()))
    });
    g.bench_function("BU IPv4HoA+IPv4CoA (IPv4/UDP 4191, E3)", |b| {
        b.iter(|| parse_packet_with(black_box(&e3), |_, _| Ok(())).is_ok())
    });
    let mh = &e1[64..];
    let hoa: Ipv6Addr = "2001:db8:1::1000".parse().unwrap();
    let ha: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
    g.bench_function("Mobility Header alone (E1 BU)", |b| {
        b.iter(|| {
            MobilityRepr::parse(&MobilityHeader::new_unchecked(black_box(mh)), &hoa, &ha).is_ok()
        })
    });
    g.finish();
}

fn emit_bu(c: &mut C) {
    let mut g = c.benchmark_group("emit");
    g.throughput(Throughput::Elements(1));
    let hoa: Ipv6Addr = "2001:db8:1::1000".parse().unwrap();
    let coa: Ipv6Addr = "2001:db8:2::100".parse().unwrap();
    let opts = [
        O::Ipv4HomeAddress {
            prefix_len: 32,
            p: false,
            address: Ipv4Addr::UNSPECIFIED,
        },
        O::AlternateCareOfAddress(coa),
    ];
    let hao = [Ipv6OptionRepr::HomeAddress(hoa)];
    let layers = bu_layers(&opts, &hao);
    let mut buf = vec![0u8; packet_len(&layers)];
    assert_eq!(buf, vec![0u8; 104]);
    g.bench_function("BU HAO+AltCoA+IPv4HoA (IPv6, E1)", |b| {
        b.iter(|| emit_packet(black_box(&layers), &mut buf))
    });
    g.finish();
}

fn tunnel_sizes(c: &mut C) {
    let mut g = c.benchmark_group("parse UDP-4191 tunnelled IPv4 (checksums verified)");
    for size in [64usize, 576, 1280, 1500] {
        let payload = vec![0x5au8; size - 20 - 8 - 20 - 8];
        let inner_v4 = |proto| Ipv4Repr {
            src_addr: Ipv4Addr::new(192, 0, 2, 10),
            dst_addr: Ipv4Addr::new(192, 0, 2, 200),
            protocol: proto,
            payload_len: 0,
            ttl: 64,
            tos: 0,
            identification: 0,
            dont_fragment: false,
        };
        let layers = [
            Layer::Ipv4(Ipv4Repr {
                src_addr: Ipv4Addr::new(198, 51, 100, 7),
                dst_addr: Ipv4Addr::new(203, 0, 113, 1),
                ..inner_v4(IpProtocol::Udp)
            }),
            Layer::Udp(UdpRepr {
                src_port: 61000,
                dst_port: 4191,
                zero_checksum: false,
            }),
            Layer::Ipv4(inner_v4(IpProtocol::Udp)),
            Layer::Udp(UdpRepr {
                src_port: 1000,
                dst_port: 2000,
                zero_checksum: false,
            }),
            Layer::Raw(&payload),
        ];
        let mut pkt = vec![0u8; packet_len(&layers)];
        emit_packet(&layers, &mut pkt).unwrap();
        assert_eq!(pkt.len(), size);
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{size} octets"), |b| {
            b.iter(|| parse_packet(black_box(&pkt)).map(|l| l.len()))
        });
        // Batch of 32 packets per iteration, as a data path would see them.
        let batch: Vec<Vec<u8>> = (0..32).map(|_| pkt.clone()).collect();
        g.throughput(Throughput::Bytes((size * 32) as u64));
        g.bench_function(format!("{size} octets, batch of 32"), |b| {
            b.iter_batched_ref(
                || (),
                |_| batch.iter().filter(|p| parse_packet(p).is_ok()).count(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = parse_bu, emit_bu, tunnel_sizes
}
criterion_main!(benches);
