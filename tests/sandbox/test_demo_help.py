"""`make demo ATS=<name>`: its docstring and the Makefile's comment name every destination the demo accepts."""

from __future__ import annotations

import re

import sandbox.demo
from sandbox.airflow_home import REPO
from sandbox.demo import DESTINATIONS


def makefile_comment(target: str) -> str:
    """Return the comment lines just above ``target:`` in the Makefile, on one line."""
    lines = (REPO / "Makefile").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    comment = []
    for line in reversed(lines[:index]):
        if not line.startswith("#"):
            break
        comment.insert(0, line.lstrip("# "))
    return " ".join(comment)


def named(text: str) -> set[str]:
    """Return the destinations of the demo that ``text`` names, as whole words."""
    return {name for name in DESTINATIONS if re.search(rf"\b{name}\b", text)}


def test_the_demo_says_which_ats_it_accepts():
    assert len(DESTINATIONS) == 8  # the JSON endpoint and the seven vendors' emulators
    assert named(" ".join(sandbox.demo.__doc__.split())) == set(DESTINATIONS)
    assert named(makefile_comment("demo")) == set(DESTINATIONS)
