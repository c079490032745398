#!/usr/bin/env bash
# `make demo`: the main job, end to end in one process. UEs attach to a Home Agent with
# IKEv2 + EAP-AKA (Milenage USIMs against the HA's embedded AAA), get a home network prefix,
# register with ESP-protected Binding Updates, hand over IPv6 -> IPv4 behind a NAT (RFC 5555
# UDP 4191) -> IPv4 -> home -> IPv6 again, and detach -- all on a virtual network, with the
# real wire codec, ESP and binding cache. The traffic is written to a capture, which tshark
# (independent) and `dsmip6 decode` read back.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO_DIR:-$(mktemp -d)}
bin=.venv/bin

echo "== 1. dsmip6 sim: 50 UEs through every procedure against one HA"
$bin/dsmip6 sim --ues 50
echo
echo "== 2. one UE's session, captured ($out/session.pcap), as tshark sees it"
$bin/dsmip6 sim --ues 1 --pcap "$out/session.pcap" > /dev/null
tshark -r "$out/session.pcap" -d udp.port==4191,ip 2>/dev/null | cut -c1-120
echo
echo "== 3. the same capture through dsmip6 decode (first Binding Update, IPv4/NAT access)"
$bin/dsmip6 decode "$out/session.pcap" | awk '/^packet /{n++} n>=15 && n<=16'
echo
echo "== 4. the bundled plaintext sample (every DSMIPv6 message and option, decoded)"
$bin/dsmip6 decode tests/data/sample.pcap | head -40
