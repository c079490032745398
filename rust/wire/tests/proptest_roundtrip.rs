//! Property tests over the whole codec: for every packet we can emit, `parse` accepts it and
//! `emit(parse(x)) == x`; every strict prefix is `Truncated`; mutated or arbitrary bytes never
//! panic, and whatever still parses re-emits to the same octets.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use dsmip6_wire::ipv6opt::{Ipv6OptionRepr, Ipv6Options};
use dsmip6_wire::mhopt::MobilityOptionRepr as O;
use dsmip6_wire::packet::{emit_packet, packet_len};
use dsmip6_wire::*;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum OptSpec {
    Bra(u16),
    AltCoa([u8; 16]),
    Nonce(u16, u16),
    Auth(Vec<u8>),
    Mnid(u8, Vec<u8>),
    V4Hoa(u8, bool, [u8; 4]),
    V4Ack(u8, u8, [u8; 4]),
    Natd(bool, u32),
    V4Coa([u8; 4]),
    Bid(u16, u8, bool, u8, [u8; 16]),
    FlowSum(Vec<u8>),
    FlowId(u16, u16, u8, Vec<u8>),
    Unknown(u8, Vec<u8>),
    PadN(u8),
    Pad1,
}

fn opt_spec() -> impl Strategy<Value = OptSpec> {
    prop_oneof![
        any::<u16>().prop_map(OptSpec::Bra),
        any::<[u8; 16]>().prop_map(OptSpec::AltCoa),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| OptSpec::Nonce(a, b)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(OptSpec::Auth),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 1..40))
            .prop_map(|(s, i)| OptSpec::Mnid(s, i)),
        (0u8..64, any::<bool>(), any::<[u8; 4]>()).prop_map(|(l, p, a)| OptSpec::V4Hoa(l, p, a)),
        (any::<u8>(), 0u8..64, any::<[u8; 4]>()).prop_map(|(s, l, a)| OptSpec::V4Ack(s, l, a)),
        (any::<bool>(), any::<u32>()).prop_map(|(f, r)| OptSpec::Natd(f, r)),
        any::<[u8; 4]>().prop_map(OptSpec::V4Coa),
        (
            any::<u16>(),
            any::<u8>(),
            any::<bool>(),
            0u8..3,
            any::<[u8; 16]>()
        )
            .prop_map(|(b, s, h, k, a)| OptSpec::Bid(b, s, h, k, a)),
        prop::collection::vec(any::<u8>(), 1..10)
            .prop_map(|v| OptSpec::FlowSum(v.iter().flat_map(|b| [0, *b]).collect())),
        (
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..12)
        )
            .prop_map(|(f, p, s, d)| OptSpec::FlowId(f, p, s, d)),
        // Unknown types outside the ones we decode.
        (
            prop_oneof![Just(6u8), Just(17u8), 50u8..=255],
            prop::collection::vec(any::<u8>(), 0..30)
        )
            .prop_map(|(t, d)| OptSpec::Unknown(t, d)),
        (0u8..6).prop_map(OptSpec::PadN),
        Just(OptSpec::Pad1),
    ]
}

fn opt_repr(s: &OptSpec) -> O<'_> {
    match s {
        OptSpec::Bra(v) => O::BindingRefreshAdvice {
            refresh_interval_4s: *v,
        },
        OptSpec::AltCoa(a) => O::AlternateCareOfAddress(Ipv6Addr::from(*a)),
        OptSpec::Nonce(a, b) => O::NonceIndices {
            home_nonce_index: *a,
            care_of_nonce_index: *b,
        },
        OptSpec::Auth(d) => O::BindingAuthorizationData(d),
        OptSpec::Mnid(s, i) => O::MobileNodeIdentifier {
            subtype: *s,
            identifier: i,
        },
        OptSpec::V4Hoa(l, p, a) => O::Ipv4HomeAddress {
            prefix_len: *l,
            p: *p,
            address: Ipv4Addr::from(*a),
        },
        OptSpec::V4Ack(s, l, a) => O::Ipv4AddressAcknowledgement {
            status: *s,
            prefix_len: *l,
            address: Ipv4Addr::from(*a),
        },
        OptSpec::Natd(f, r) => O::NatDetection {
            f: *f,
            refresh_time: *r,
        },
        OptSpec::V4Coa(a) => O::Ipv4CareOfAddress(Ipv4Addr::from(*a)),
        OptSpec::Bid(b, s, h, k, a) => O::BindingIdentifier {
            bid: *b,
            status: *s,
            h: *h,
            care_of_address: match k {
                0 => None,
                1 => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
                _ => Some(IpAddr::V6(Ipv6Addr::from(*a))),
            },
        },
        OptSpec::FlowSum(f) => O::FlowSummary(f),
        OptSpec::FlowId(f, p, s, d) => O::FlowIdentification {
            fid: *f,
            fid_pri: *p,
            status: *s,
            sub_options: d,
        },
        OptSpec::Unknown(t, d) => O::Unknown {
            option_type: *t,
            data: d,
        },
        OptSpec::PadN(n) => O::PadN(*n),
        OptSpec::Pad1 => O::Pad1,
    }
}

#[derive(Debug, Clone)]
enum MsgSpec {
    Brr,
    Bu(u16, u16, u16),
    Ba(u8, u8, u16, u16),
    Be(u8, [u8; 16]),
    Has(Vec<u8>),
    Bri(u8, u16, u16),
    Bra(u8, u16, u16),
    Unknown(u8, Vec<u8>),
}

fn msg_spec() -> impl Strategy<Value = MsgSpec> {
    prop_oneof![
        Just(MsgSpec::Brr),
        (any::<u16>(), any::<u16>(), any::<u16>()).prop_map(|(s, f, l)| MsgSpec::Bu(s, f, l)),
        (any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>())
            .prop_map(|(a, b, c, d)| MsgSpec::Ba(a, b, c, d)),
        (any::<u8>(), any::<[u8; 16]>()).prop_map(|(s, a)| MsgSpec::Be(s, a)),
        (0usize..4).prop_map(|n| MsgSpec::Has((0..n * 16).map(|i| i as u8).collect())),
        (any::<u8>(), any::<u16>(), 0u16..8).prop_map(|(t, s, f)| MsgSpec::Bri(t, s, f << 13)),
        (any::<u8>(), any::<u16>(), 0u16..8).prop_map(|(t, s, f)| MsgSpec::Bra(t, s, f << 13)),
        (
            prop_oneof![1u8..5, 8u8..12, 17u8..=255],
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(t, d)| {
                let mut d = d;
                d.resize((d.len() + 6).div_ceil(8) * 8 - 6, 0);
                MsgSpec::Unknown(t, d)
            }),
    ]
}

fn msg_repr(m: &MsgSpec) -> MhMessage<'_> {
    match m {
        MsgSpec::Brr => MhMessage::BindingRefreshRequest,
        MsgSpec::Bu(s, f, l) => MhMessage::BindingUpdate {
            sequence: *s,
            flags: *f,
            lifetime_4s: *l,
        },
        MsgSpec::Ba(st, f, s, l) => MhMessage::BindingAcknowledgement {
            status: *st,
            flags: *f,
            sequence: *s,
            lifetime_4s: *l,
        },
        MsgSpec::Be(s, a) => MhMessage::BindingError {
            status: *s,
            home_address: Ipv6Addr::from(*a),
        },
        MsgSpec::Has(a) => MhMessage::HomeAgentSwitch { addresses: a },
        MsgSpec::Bri(t, s, f) => MhMessage::BindingRevocationIndication {
            revocation_trigger: *t,
            sequence: *s,
            flags: *f,
        },
        MsgSpec::Bra(t, s, f) => MhMessage::BindingRevocationAcknowledgement {
            status: *t,
            sequence: *s,
            flags: *f,
        },
        MsgSpec::Unknown(t, d) => MhMessage::Unknown {
            mh_type: *t,
            data: d,
        },
    }
}

#[derive(Debug, Clone)]
struct PacketSpec {
    shape: u8,
    msg: MsgSpec,
    opts: Vec<OptSpec>,
    a: [u8; 16],
    b: [u8; 16],
    c: [u8; 16],
    payload: Vec<u8>,
    hop: u8,
    port: u16,
}

fn packet_spec() -> impl Strategy<Value = PacketSpec> {
    (
        0u8..8,
        msg_spec(),
        prop::collection::vec(opt_spec(), 0..6),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        prop::collection::vec(any::<u8>(), 8..64),
        any::<u8>(),
        1024u16..65535,
    )
        .prop_map(
            |(shape, msg, opts, a, b, c, payload, hop, port)| PacketSpec {
                shape,
                msg,
                opts,
                a,
                b,
                c,
                payload,
                hop,
                port,
            },
        )
}

fn v6(src: [u8; 16], dst: [u8; 16], hop: u8) -> Layer<'static> {
    Layer::Ipv6(Ipv6Repr {
        src_addr: Ipv6Addr::from(src),
        dst_addr: Ipv6Addr::from(dst),
        next_header: IpProtocol::NoNextHeader,
        payload_len: 0,
        hop_limit: hop,
        traffic_class: src[0],
        flow_label: u32::from(src[1]) << 8,
    })
}

fn v4(src: [u8; 16], dst: [u8; 16], proto: IpProtocol) -> Layer<'static> {
    Layer::Ipv4(Ipv4Repr {
        src_addr: Ipv4Addr::new(src[0], src[1], src[2], src[3]),
        dst_addr: Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]),
        protocol: proto,
        payload_len: 0,
        ttl: src[4],
        tos: src[5],
        identification: u16::from(src[6]),
        dont_fragment: src[7] & 1 == 1,
    })
}

/// Fix up next-header fields from the following layer.
fn chain(mut layers: Vec<Layer<'_>>) -> Vec<Layer<'_>> {
    for i in 0..layers.len() {
        let next = match layers.get(i + 1) {
            Some(Layer::Ipv6(_)) => IpProtocol::Ipv6,
            Some(Layer::Ipv4(_)) => IpProtocol::Ipv4,
            Some(Layer::DestOpts(_)) => IpProtocol::Ipv6Opts,
            Some(Layer::Routing2(_)) => IpProtocol::Ipv6Route,
            Some(Layer::Mobility(_)) => IpProtocol::Mobility,
            Some(Layer::Udp(_)) => IpProtocol::Udp,
            Some(Layer::Esp(_)) => IpProtocol::Esp,
            Some(Layer::Raw(_)) => IpProtocol::Tcp,
            None => IpProtocol::NoNextHeader,
        };
        match &mut layers[i] {
            Layer::Ipv6(r) => r.next_header = next,
            Layer::Ipv4(r) => r.protocol = next,
            Layer::DestOpts(r) => r.next_header = next,
            Layer::Routing2(r) => r.next_header = next,
            _ => {}
        }
    }
    layers
}

fn emit(layers: &[Layer]) -> Vec<u8> {
    let mut out = vec![0u8; packet_len(layers)];
    emit_packet(layers, &mut out).unwrap();
    out
}

fn build(spec: &PacketSpec) -> Vec<u8> {
    let reprs: Vec<O> = spec.opts.iter().map(opt_repr).collect();
    let mh = Layer::Mobility(MobilityRepr {
        message: msg_repr(&spec.msg),
        options: if matches!(spec.msg, MsgSpec::Unknown(..)) {
            MobilityOptions::EMPTY
        } else {
            MobilityOptions::List(&reprs)
        },
    });
    let hao = [
        Ipv6OptionRepr::HomeAddress(Ipv6Addr::from(spec.c)),
        Ipv6OptionRepr::PadN(3),
    ];
    let dst = Layer::DestOpts(DestOptsRepr {
        next_header: IpProtocol::NoNextHeader,
        options: Ipv6Options::List(&hao),
    });
    let rh2 = Layer::Routing2(RoutingHeader2Repr {
        next_header: IpProtocol::NoNextHeader,
        home_address: Ipv6Addr::from(spec.c),
    });
    let udp = |p: u16| {
        Layer::Udp(UdpRepr {
            src_port: spec.port,
            dst_port: p,
            zero_checksum: spec.a[9] & 1 == 1,
        })
    };
    let esp = Layer::Esp(EspRepr {
        spi: u32::from_be_bytes([spec.a[0] | 1, spec.a[1], spec.a[2], spec.a[3]]),
        sequence_number: u32::from(spec.hop),
        data: &spec.payload,
    });
    let layers = match spec.shape {
        0 => vec![v6(spec.a, spec.b, spec.hop), dst, mh],
        1 => vec![v6(spec.a, spec.b, spec.hop), rh2, mh],
        2 => vec![v6(spec.a, spec.b, spec.hop), mh],
        3 => vec![
            v4(spec.a, spec.b, IpProtocol::Udp),
            udp(4191),
            v6(spec.c, spec.b, spec.hop),
            mh,
        ],
        4 => vec![v6(spec.a, spec.b, spec.hop), dst, esp],
        5 => vec![v4(spec.a, spec.b, IpProtocol::Udp), udp(4500), esp],
        6 => vec![
            v4(spec.a, spec.b, IpProtocol::Udp),
            udp(4191),
            v4(spec.c, spec.a, IpProtocol::Udp),
            udp(53),
            Layer::Raw(&spec.payload),
        ],
        _ => vec![
            v6(spec.a, spec.b, spec.hop),
            v6(spec.c, spec.a, 1),
            Layer::Raw(&spec.payload),
        ],
    };
    emit(&chain(layers))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn emitted_packets_parse_and_reemit_identically(spec in packet_spec()) {
        let bytes = build(&spec);
        let layers = parse_packet(&bytes).unwrap_or_else(|e| panic!("{e} in {spec:?}"));
        prop_assert_eq!(emit(layers.as_slice()), bytes);
    }

    #[test]
    fn every_strict_prefix_is_truncated(spec in packet_spec()) {
        let bytes = build(&spec);
        for n in 0..bytes.len() {
            let e = parse_packet(&bytes[..n]).unwrap_err();
            prop_assert_eq!(e.kind, ErrorKind::Truncated, "prefix {} of {:?}", n, spec);
        }
    }

    #[test]
    fn mutated_packets_never_panic(spec in packet_spec(), edits in prop::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)) {
        let mut bytes = build(&spec);
        for (at, v, kind) in edits {
            let at = at % (bytes.len() + 1);
            match kind {
                0 if at < bytes.len() => bytes[at] ^= v | 1,
                1 => bytes.insert(at, v),
                _ if at < bytes.len() => { bytes.remove(at); }
                _ => {}
            }
        }
        if let Ok(layers) = parse_packet(&bytes) {
            prop_assert_eq!(emit(layers.as_slice()), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_packet(&bytes);
        let _ = MobilityRepr::parse(&MobilityHeader::new_unchecked(&bytes[..]), &Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
        let _ = EspTrailerRepr::parse(&bytes);
    }

    #[test]
    fn mobility_header_alone_roundtrips(msg in msg_spec(), opts in prop::collection::vec(opt_spec(), 0..8), s in any::<[u8; 16]>(), d in any::<[u8; 16]>()) {
        let reprs: Vec<O> = opts.iter().map(opt_repr).collect();
        let r = MobilityRepr {
            message: msg_repr(&msg),
            options: if matches!(msg, MsgSpec::Unknown(..)) { MobilityOptions::EMPTY } else { MobilityOptions::List(&reprs) },
        };
        let (s, d) = (Ipv6Addr::from(s), Ipv6Addr::from(d));
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut buf, &s, &d);
        let p = MobilityRepr::parse(&MobilityHeader::new_checked(&buf[..]).unwrap(), &s, &d).unwrap();
        prop_assert_eq!(p.message, r.message);
        // The options come back in order, padding aside.
        let got: Vec<O> = p.options.iter().filter(|o| !o.is_pad()).collect();
        let want: Vec<O> = if matches!(msg, MsgSpec::Unknown(..)) { vec![] } else { reprs.iter().copied().filter(|o| !o.is_pad()).collect() };
        prop_assert_eq!(got, want);
        let mut again = vec![0u8; p.buffer_len()];
        p.emit(&mut again, &s, &d);
        prop_assert_eq!(again, buf);
    }
}
