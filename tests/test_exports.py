"""The public surface: one __init__ with __all__, every name documented."""

from __future__ import annotations

import wsnegotiate


def test_all_names_are_exported_and_documented() -> None:
    for name in wsnegotiate.__all__:
        obj = getattr(wsnegotiate, name)
        assert obj.__doc__, name
        if hasattr(obj, "__module__"):
            assert obj.__module__.startswith("wsnegotiate"), name
    public = {n for n in dir(wsnegotiate) if not n.startswith("_")}
    assert public - ADAPTERS - TOOLS == set(wsnegotiate.__all__)


# public modules, imported on demand (trio and wsproto are optional)
ADAPTERS = {"aio", "h2", "trio", "uvicorn", "wsproto"}
# the command line: a sub-package beside the protocol (DESIGN.md, "Layout")
TOOLS = {"cli"}


def test_adapters_are_documented_modules() -> None:
    import wsnegotiate.aio
    import wsnegotiate.trio

    for module in (wsnegotiate.aio, wsnegotiate.trio):
        assert module.__doc__
        assert set(module.__all__) == {"OnRequest", "server_handshake"}
        assert module.server_handshake.__doc__


def test_py_typed_is_shipped() -> None:
    from importlib.resources import files

    assert files("wsnegotiate").joinpath("py.typed").is_file()
