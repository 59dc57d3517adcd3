"""The events' own constructors (written for speed, see ``_events``) against their
fields: every field set from its own argument, by position and by keyword, and the
dataclass behaviour (frozen, replace, equality) unchanged."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from wsnegotiate import Accepted, Connected, Rejected, Request


@pytest.mark.parametrize("cls", [Request, Accepted, Rejected, Connected])
def test_every_field_is_set_from_its_own_argument(cls: type) -> None:
    names = [field.name for field in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    values = [object() for _ in names]
    for event in (cls(*values), cls(**dict(zip(names, values, strict=True)))):
        assert [getattr(event, name) for name in names] == values


@pytest.mark.parametrize("cls", [Request, Accepted, Rejected, Connected])
def test_defaults_frozen_replace_and_equality(cls: type) -> None:
    fields = dataclasses.fields(cls)
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    event = cls(*(f"{name} value" for name in required))
    for field in fields:
        if field.default is not dataclasses.MISSING:
            assert getattr(event, field.name) == field.default
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, required[0], "changed")
    changed = dataclasses.replace(event, **{required[0]: "changed"})
    assert getattr(changed, required[0]) == "changed"
    assert changed != event
    assert dataclasses.replace(changed, **{required[0]: f"{required[0]} value"}) == event
