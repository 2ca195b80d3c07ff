"""Local sandbox: an HrFlow API emulator plus recording ATS and SMS receivers."""

from __future__ import annotations

from sandbox.objects import make_key, make_profile
from sandbox.server import SandboxServer
from sandbox.state import SandboxState

__all__ = ["SandboxServer", "SandboxState", "make_key", "make_profile"]
