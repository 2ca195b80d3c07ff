"""Local sandbox: an HrFlow API emulator plus recording ATS and SMS receivers."""

from __future__ import annotations

from sandbox.server import SandboxServer, SandboxState, make_key, make_profile

__all__ = ["SandboxServer", "SandboxState", "make_key", "make_profile"]
