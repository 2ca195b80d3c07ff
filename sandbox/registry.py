"""
The sandbox's ATS emulators: every :class:`~sandbox.vendor.Vendor` an emulator module declares (``VENDOR``, or
``VENDORS``), found by reading the modules of ``sandbox/`` (a new emulator is its module: no list to add it to).

An entry says where the emulator answers (``prefix``, and a token host of its own: ``auth``), what answers
(``serve``), the emulated account it keeps (``account``: ``state.vendors.<name>``), how to connect to it
(``connection(base_url)``, and the demo's ``demo``) and the contract suite's parameters. The server's routes
(``sandbox/server.py``), the accounts (:class:`~sandbox.accounts.Vendors`, made by ``sandbox/state.py``),
``make demo ATS=<name>`` (``sandbox/demo.py``) and the contract suite (``tests/contract/``) are built from it.
"""

from __future__ import annotations

import ast
from importlib import import_module
from pathlib import Path

from sandbox.vendor import Vendor

__all__ = ["BY_NAME", "VENDORS", "Vendor", "discover"]


def discover() -> tuple[Vendor, ...]:
    """Return the entries the sandbox's modules declare at their top level, in module order."""
    found: list[Vendor] = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        names = {
            target.id
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("VENDOR", "VENDORS")
        }
        if names:
            module = import_module(f"sandbox.{path.stem}")
            found += [module.VENDOR] if "VENDOR" in names else list(module.VENDORS)
    return tuple(found)


VENDORS: tuple[Vendor, ...] = discover()
BY_NAME = {vendor.name: vendor for vendor in VENDORS}
