"""``SpiSet.add_new``: the engine's one-probe "unused? then take it" for child SPIs."""

from __future__ import annotations

import random

import pytest
from dsmip6.ikev2.sa import SpiSet


def test_add_new_tells_whether_the_spi_was_free_and_adds_it():
    rng = random.Random(11)
    s, ref = SpiSet(), set()
    for step in range(20000):
        spi = rng.choice((rng.randrange(256, 1 << 32), 256 + step % 2000))
        if rng.random() < 0.7:
            assert s.add_new(spi) == (spi not in ref)
            ref.add(spi)
        else:
            s.discard(spi)  # deleted marks on the probe paths
            ref.discard(spi)
        assert spi in s if spi in ref else spi not in s
    assert sorted(s) == sorted(ref) and len(s) == len(ref)
    for bad in (0, 255, 1 << 32):
        with pytest.raises(ValueError):
            s.add_new(bad)


def test_the_engine_never_hands_out_a_spi_twice():
    from dsmip6.ikev2 import IkeResponder, ResponderConfig

    draws = iter([(300).to_bytes(4, "big")] * 3 + [(301).to_bytes(4, "big")] * 2 + [bytes(4)])

    def rng(n: int) -> bytes:
        return next(draws) if n == 4 else bytes(n)

    ha = IkeResponder(ResponderConfig("ha.example.org", psk=b"k" * 16), rng=rng)
    assert ha._alloc_child_spi() == 300
    assert ha._alloc_child_spi() == 301  # 300 twice more: taken, drawn again
    assert 300 in ha._child_spis and 301 in ha._child_spis and len(ha._child_spis) == 2
