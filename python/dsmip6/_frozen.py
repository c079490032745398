"""Cheap positional constructors for frozen dataclasses on the per-handshake paths.

A frozen dataclass's generated ``__init__`` stores every field through
``object.__setattr__`` (frozen instances refuse plain assignment), which costs about three
times a direct store into the instance's slot or ``__dict__``. ``builder(cls)`` returns a
function taking every field positionally, in declaration order, that creates the instance
with ``object.__new__`` and stores the fields directly — the same object ``cls(*values)``
makes (same class, same field values, so equal and hashing alike; the instance stays
frozen), including a call of ``__post_init__`` when the class has one. The function is
generated once per class from the dataclass's own field list, as ``dataclasses`` generates
``__init__``. ``tests/test_frozen_builders.py`` compares each builder in use with its class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, is_dataclass
from types import MemberDescriptorType
from typing import Any, TypeVar

T = TypeVar("T")


def builder(cls: type[T]) -> Callable[..., T]:
    """A positional constructor equal to ``cls(*values)`` (all fields given)."""
    if not (isinstance(cls, type) and is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass")
    names = [f.name for f in fields(cls) if f.init]
    if len(names) != len(fields(cls)):
        raise TypeError(f"{cls.__name__} has fields outside __init__")
    args = [f"a{i}" for i in range(len(names))]
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    lines = [f"def build({', '.join(args)}):", "    o = _new(_cls)"]
    slots = [_slot(cls, name) for name in names]
    if all(slots):
        for i, desc in enumerate(slots):
            ns[f"_s{i}"] = desc.__set__  # type: ignore[union-attr]
            lines.append(f"    _s{i}(o, a{i})")
    elif any(slots):
        raise TypeError(f"{cls.__name__} keeps some fields in slots and some in __dict__")
    else:
        lines.append("    d = o.__dict__")
        lines.extend(f"    d[{name!r}] = a{i}" for i, name in enumerate(names))
    if hasattr(cls, "__post_init__"):
        lines.append("    o.__post_init__()")
    lines.append("    return o")
    exec("\n".join(lines), ns)  # noqa: S102 - code generated from the dataclass's field names
    build = ns["build"]
    build.__name__ = build.__qualname__ = f"build_{cls.__name__}"
    build.__doc__ = f"``{cls.__name__}(*values)``, every field positionally."
    return build  # type: ignore[no-any-return]


def _slot(cls: type, name: str) -> MemberDescriptorType | None:
    """The slot descriptor holding field ``name`` of ``cls``'s instances, or None."""
    for klass in cls.__mro__:
        desc = klass.__dict__.get(name)
        if desc is not None:
            return desc if type(desc) is MemberDescriptorType else None
    return None
