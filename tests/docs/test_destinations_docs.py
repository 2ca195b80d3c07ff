"""docs/destinations.md and docs/monitoring.md say what the adapters do: read from the adapters, not retyped."""

from __future__ import annotations

import re
from pathlib import Path

from hrflow_airflow.destinations import REGISTRY, adapters, declaration, load, record_url

DOCS = Path(__file__).resolve().parents[2] / "docs"
DESTINATIONS = (DOCS / "destinations.md").read_text()
MONITORING = (DOCS / "monitoring.md").read_text()


def vendor(path: str) -> str:
    """Return the vendor's name as the docs write it: the first word of the adapter's UI name."""
    return declaration(path)["hook_name"].split()[0]


def paragraph(text: str, opening: str) -> str:
    """Return the paragraph of ``text`` that starts with ``opening``, on one line."""
    start = text.index(opening)
    return " ".join(text[start : text.find("\n\n", start)].split())


def test_the_ats_table_is_one_table_with_a_row_per_adapter():
    section = DESTINATIONS.split("\n## ATS\n", 1)[1].lstrip("\n")
    table = section.split("\n\n", 1)[0]  # a blank line ends a Markdown table: rows after it are plain text
    rows = set(re.findall(r"^\| `([a-z_]+)`", table, re.M))
    assert {declaration(path)["conn_type"] for path in REGISTRY} <= rows


def test_the_vendors_that_make_one_record_per_job_are_the_ones_named():
    per_job = {vendor(path) for path in REGISTRY if getattr(load(path), "one_record_per_job", False)}
    named = paragraph(DESTINATIONS, "**The job.**").split("(", 1)[1].split(")", 1)[0]
    assert per_job == {"Workable", "SmartRecruiters", "Lever"}
    assert {name for name in map(vendor, REGISTRY) if name in named} == per_job


def test_the_json_endpoint_is_said_never_to_count_unknown_jobs():
    said = paragraph(DESTINATIONS, "**The JSON endpoint** receives")
    assert "never counts `unknown_jobs`" in said and "hrflow_job_map" in said


def test_monitoring_names_each_vendor_whose_records_are_linked():
    linked = {vendor(path) for conn_type, (_, path) in adapters().items() if record_url(conn_type, f"{conn_type}:1")}
    said = re.search(r"`record_url`: ([^;]+);", " ".join(MONITORING.split()))
    assert said is not None
    assert set(re.split(r", | and ", said.group(1))) == linked == {"Lever", "Greenhouse"}
