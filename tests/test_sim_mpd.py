"""``dsmip6 sim --prefix-discovery``: the HA answers BUs with status 1 until prefix discovery,
and every UE of the run negotiates the MPD SA, solicits and accepts one advertisement, then
goes through every other procedure as usual (everything real: IKEv2, ESP, wire codec)."""

import json

from dsmip6 import cli


def test_sim_with_prefix_discovery_json(capsys):
    rc = cli.main(["sim", "--ues", "6", "--prefix-discovery", "--json"])
    out = capsys.readouterr().out
    res = json.loads(out)
    assert rc == 0, out
    assert res["ok"] is True and res["prefix_advertised"] == 6
    assert all(p["succeeded"] == 6 for p in res["procedures"])
    c = res["ha_counters"]
    # One status-1 BA per UE (the first registration), every later BA status 0.
    assert c["ba-1"] == 6 and c["mpd-sa-up"] == 6 and c["mpa-sent"] == 6
    assert "unprotected" not in c and "mpd-wrong-sa" not in c
    assert res["bindings_left"] == 0


def test_sim_without_prefix_discovery_sends_none(capsys):
    rc = cli.main(["sim", "--ues", "3", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["prefix_advertised"] == 0
    assert "ba-1" not in res["ha_counters"] and "mpa-sent" not in res["ha_counters"]


def test_sim_text_output_reports_the_advertisements(capsys):
    rc = cli.main(["sim", "--ues", "2", "--prefix-discovery", "--dataplane", "fake"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "mobile prefix advertisements accepted: 2/2" in out
    assert "HA drops: none" in out
