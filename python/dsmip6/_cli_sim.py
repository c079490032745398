"""``dsmip6 sim --ues N [--json]``: N UEs through attach → handovers (IPv6, IPv4 behind NAT,
IPv4, home) → detach against one HA, in process, on the virtual network of
:mod:`dsmip6.sim`, with the real IKEv2/EAP-AKA, wire codec and ESP. Prints per-procedure
success counts and the HA CPU time per procedure."""

from __future__ import annotations

import argparse
import json
import sys

from dsmip6.errors import ConfigError, Dsmip6Error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ues", type=int, default=100, help="number of UEs (default 100)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--loss", type=float, default=0.0, help="datagram loss probability")
    parser.add_argument("--seed", type=int, default=0, help="network PRNG seed")
    parser.add_argument(
        "--dataplane",
        choices=("rust", "fake"),
        default="rust",
        help="HA data plane: the Rust binding cache (default) or the Python recorder",
    )
    parser.add_argument(
        "--attach-rate",
        type=float,
        default=None,
        metavar="UES_PER_S",
        help="attach arrivals per virtual second (default 2000; 0: every UE at t = 0, which"
        " the HA's IKEv2 half-open limit treats as a flood)",
    )
    parser.add_argument("--progress", action="store_true", help="report each phase on stderr")
    parser.add_argument(
        "--prefix-discovery",
        action="store_true",
        help="the HA answers BUs with status 1 until the UE ran Mobile Prefix Discovery"
        " (RFC 6275 §11.4): every UE must then accept one advertisement",
    )
    parser.add_argument(
        "--pcap",
        metavar="FILE",
        help="write every datagram delivered on the virtual network to FILE (raw-IP pcap;"
        " at most 1000 UEs)",
    )


def _as_ip_packet(data: bytes, src: tuple[str, int], dst: tuple[str, int]) -> bytes:
    """One delivered datagram as the IP packet a capture on the receiver would show.

    The virtual network carries raw IPv6 packets (Mobility Header signalling, port 0) as they
    are, and UDP payloads (IKE on 500/4500, RFC 5555 encapsulation on 4191) with their
    endpoints; the latter get their IPv4 or IPv6 and UDP headers back here."""
    from ipaddress import IPv4Address, ip_address

    from dsmip6 import wire

    if src[1] == 0 and dst[1] == 0:
        return data
    if isinstance(ip_address(src[0]), IPv4Address):
        ip: object = wire.Ipv4Header(src[0], dst[0])
    else:
        ip = wire.Ipv6Header(src[0], dst[0])
    return wire.build([ip, wire.UdpHeader(src[1], dst[1]), wire.Raw(data)])


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.ues <= 1_000_000:
        raise ConfigError("--ues must be in 1..1000000")
    if not 0.0 <= args.loss < 0.5:
        raise ConfigError("--loss must be in [0, 0.5)")
    if args.attach_rate is not None and not 0.0 <= args.attach_rate <= 1e9:
        raise ConfigError("--attach-rate must be in [0, 1e9]")
    if args.pcap is not None and args.ues > 1000:
        raise ConfigError("--pcap records at most 1000 UEs")
    try:
        from dsmip6.sim.scenario import ATTACH_RATE, run_scenario
        from dsmip6.sim.world import HA4, HA6, RealWorld

        ha_kw = {"prefix_discovery_required": True} if args.prefix_discovery else None
        world = RealWorld(args.ues, ha_kw=ha_kw)
        if args.dataplane == "rust":
            from dsmip6 import dataplane as dp_mod

            dataplane = dp_mod.RustDataPlane()
        else:
            from dsmip6.dataplane_iface import FakeDataPlane

            dataplane = FakeDataPlane()
    except ImportError as exc:  # a piece (wire / esp / ikev2 / eap) is not built in
        raise Dsmip6Error(f"simulation needs {exc.name or exc}: not available") from None

    def progress(msg: str) -> None:
        if args.progress:
            print(msg, file=sys.stderr, flush=True)

    trace: list | None = [] if args.pcap is not None else None
    res = run_scenario(
        args.ues,
        make_ha=world.make_ha,
        make_ue=world.make_ue,
        dataplane=dataplane,
        ha_hosts=(str(HA6), str(HA4)),
        loss=args.loss,
        seed=args.seed,
        progress=progress,
        trace=trace,
        attach_rate=ATTACH_RATE if args.attach_rate is None else args.attach_rate,
        prefix_discovery=args.prefix_discovery,
    )
    if args.pcap is not None:
        from dsmip6._pcap import write_pcap

        delivered = [(t, d) for t, what, d in trace or () if what == "deliver"]
        packets = [_as_ip_packet(*d) for _, d in delivered]
        try:
            write_pcap(args.pcap, packets, times=[t for t, _ in delivered])
        except OSError as exc:
            raise ConfigError(f"cannot write {args.pcap}: {exc.strerror}") from None
        print(f"wrote {len(packets)} packets to {args.pcap}", file=sys.stderr)
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(f"{'procedure':<18} {'ok':>9} {'of':>9} {'HA CPU s':>10} {'HA µs/UE':>10}")
        for p in res.phases:
            print(
                f"{p.name:<18} {p.succeeded:>9} {p.ues:>9} {p.ha_cpu_s:>10.3f}"
                f" {p.ha_cpu_per_ue_us:>10.1f}"
            )
        sent = ("ba-", "mpa-sent", "mpd-sa-up")  # what the HA sent or set up, not drops
        drops = {k: v for k, v in res.ha_counters.items() if not k.startswith(sent)}
        print(f"bindings left: {res.bindings_left}; HA drops: {drops or 'none'}")
        if args.prefix_discovery:
            print(f"mobile prefix advertisements accepted: {res.prefix_advertised}/{res.ues}")
    return 0 if res.ok else 1
