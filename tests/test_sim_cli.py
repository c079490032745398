"""``dsmip6 sim``: argument checking and a small run with the real pieces."""

import json

import pytest
from dsmip6 import cli


def test_sim_rejects_bad_arguments(capsys):
    assert cli.main(["sim", "--ues", "0"]) == 2
    assert "--ues" in capsys.readouterr().err
    assert cli.main(["sim", "--ues", "3", "--loss", "0.9"]) == 2
    assert cli.main(["sim", "--ues", "3", "--attach-rate", "-1"]) == 2
    assert "--attach-rate" in capsys.readouterr().err
    assert cli.main(["sim", "--ues", "3", "--attach-rate", "nan"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["sim", "--ues", "many"])


def test_sim_small_run_json(capsys):
    rc = cli.main(["sim", "--ues", "5", "--json"])  # Rust data plane (default)
    out = capsys.readouterr().out
    res = json.loads(out)
    assert rc == 0, out
    assert [p["procedure"] for p in res["procedures"]] == [
        "attach",
        "handover-v6",
        "handover-v4-nat",
        "handover-v4",
        "return-home",
        "leave-home-v6",
        "detach",
    ]
    assert all(p["succeeded"] == 5 for p in res["procedures"])
    assert res["bindings_left"] == 0 and res["ok"] is True


def test_sim_pcap_is_a_capture_tshark_reads(tmp_path, capsys):
    """``--pcap`` records what crossed the virtual network as real packets: IKEv2 on UDP 500,
    ESP-protected Mobility Header signalling with the HAO from IPv6 care-of addresses, and
    RFC 5555 UDP 4191 encapsulation from the IPv4 accesses; tshark (independent) agrees."""
    import shutil
    import subprocess

    from dsmip6 import wire
    from dsmip6._pcap import ip_packet, read_frames

    path = tmp_path / "sim.pcap"
    assert cli.main(["sim", "--ues", "1", "--pcap", str(path)]) == 0
    assert "wrote" in capsys.readouterr().err
    packets = [wire.parse(ip_packet(f)) for f in read_frames(path.read_bytes())]
    assert len(packets) > 20

    def udp_ports(p):
        u = p.get(wire.UdpHeader)
        return None if u is None else (u.src_port, u.dst_port)

    # IKE: UDP 500, or 4500 without ESP (non-ESP marker); behind the NAT one port is mapped.
    ike = [p for p in packets if {500, 4500} & set(udp_ports(p) or ()) and p.get(wire.Esp) is None]
    assert ike and ike[0].get(wire.Raw).data[18] == 34  # RFC 7296 §3.1: IKE_SA_INIT
    hao_esp = [
        p
        for p in packets
        if p.get(wire.DestinationOptions) is not None and p.get(wire.Esp) is not None
    ]
    assert hao_esp, "no BU from an IPv6 care-of address"
    udp4191 = [
        p for p in packets if p.get(wire.Ipv4Header) is not None and 4191 in (udp_ports(p) or ())
    ]
    assert udp4191 and all(p.get(wire.Esp) is not None for p in udp4191)

    tshark = shutil.which("tshark")
    assert tshark, "tshark is required (make test installs it)"
    out = subprocess.run(
        [
            tshark,
            "-r",
            str(path),
            "-d",
            "udp.port==4191,ip",
            "-T",
            "fields",
            "-e",
            "frame.protocols",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    assert len(out) == len(packets)
    assert sum("isakmp" in line for line in out) == len(ike)
    assert sum(line.endswith(":esp") for line in out) == sum(
        p.get(wire.Esp) is not None for p in packets
    )
