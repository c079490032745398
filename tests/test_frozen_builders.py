"""``dsmip6._frozen.builder``: the positional constructors used on the handshake paths make the
objects the frozen dataclasses' own ``__init__`` makes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
from dsmip6._frozen import builder
from dsmip6._ike import HaAssignment
from dsmip6.aka import AuthenticationVector
from dsmip6.eap._packet import AkaMessage, Attribute, EapPacket
from dsmip6.ikev2.keys import ChildKeys, IkeKeys


def _distinct_values(cls: type) -> tuple:
    """A different value for every field (a swapped pair of stores shows)."""
    return tuple(
        (bytes([i]) * (i + 1)) if f.type in ("bytes", bytes) else (i + 10)
        for i, f in enumerate(dataclasses.fields(cls))
    )


IN_USE = [IkeKeys, ChildKeys, AuthenticationVector, EapPacket, AkaMessage, HaAssignment]


@pytest.mark.parametrize("cls", IN_USE, ids=lambda c: c.__name__)
def test_builder_makes_the_dataclass_value(cls):
    values = _distinct_values(cls)
    if cls is AkaMessage:
        values = (2, 7, 23, 1, (Attribute(11, b"\0\0" + bytes(16), 8),), b"raw")
    want = cls(*values)
    got = builder(cls)(*values)
    assert type(got) is cls
    names = [f.name for f in dataclasses.fields(cls)]
    assert [getattr(got, n) for n in names] == [getattr(want, n) for n in names] == list(values)
    assert got == want and hash(got) == hash(want) and repr(got) == repr(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(got, names[0], values[1])


def test_the_modules_use_builders_of_their_classes():
    from dsmip6 import aka, ha
    from dsmip6.eap import _packet
    from dsmip6.ikev2 import keys

    for fn, cls in (
        (keys._ike_keys, IkeKeys),
        (keys._child_keys, ChildKeys),
        (aka._vector, AuthenticationVector),
        (_packet._eap_packet, EapPacket),
        (_packet._aka_message, AkaMessage),
        (ha._ha_assignment, HaAssignment),
    ):
        assert fn.__name__ == f"build_{cls.__name__}"
        values = _distinct_values(cls)
        assert fn(*values) == cls(*values)


def test_builder_runs_post_init_and_handles_dict_classes():
    @dataclass(frozen=True)
    class Checked:
        a: int
        b: str

        def __post_init__(self) -> None:
            if not self.b:
                raise ValueError("empty")

    build = builder(Checked)
    assert build(1, "x") == Checked(1, "x") and vars(build(1, "x")) == vars(Checked(1, "x"))
    with pytest.raises(ValueError):
        build(1, "")

    @dataclass(frozen=True, slots=True)
    class Base:
        a: int

    @dataclass(frozen=True, slots=True)
    class Derived(Base):
        b: int

    assert builder(Derived)(1, 2) == Derived(1, 2)
    with pytest.raises(TypeError):
        builder(int)


def test_a_swapped_store_is_caught():
    values = _distinct_values(IkeKeys)
    swapped = (values[1], values[0]) + values[2:]
    assert builder(IkeKeys)(*swapped) != IkeKeys(*values)
