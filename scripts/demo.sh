#!/usr/bin/env bash
# `make demo`: the main job of what exists today — decode the bundled sample capture.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/dsmip6 decode tests/data/sample.pcap
