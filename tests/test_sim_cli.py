"""``dsmip6 sim``: argument checking and a small run with the real pieces."""

import json

import pytest
from dsmip6 import cli


def test_sim_rejects_bad_arguments(capsys):
    assert cli.main(["sim", "--ues", "0"]) == 2
    assert "--ues" in capsys.readouterr().err
    assert cli.main(["sim", "--ues", "3", "--loss", "0.9"]) == 2
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
