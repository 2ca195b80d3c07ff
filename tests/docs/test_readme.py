"""The README is a landing page: the two commands first, at most 1,500 words; depth lives in docs/."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_opens_with_the_two_commands_and_stays_a_landing_page():
    first_block = README.split("```")[1]
    assert re.search(r"^make demo\b", first_block, re.M) and re.search(r"^make test\b", first_block, re.M)
    assert len(README.split()) <= 1500, f"README.md has {len(README.split())} words: move depth to docs/"


def test_every_document_the_readme_links_exists():
    for target in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (Path(__file__).resolve().parents[2] / target).is_file(), target
