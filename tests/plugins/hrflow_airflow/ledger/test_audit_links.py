"""
The repair path (``python -m hrflow_airflow.ledger.audit_links``): a link the earlier adoption rule made (a person's own
Lever opportunity, adopted as the first match by email) is listed, and unlinked by ``--apply``; our own records,
marked or from before markers, pass.
"""

from __future__ import annotations

import json

from sqlalchemy import update

from hrflow_airflow.destinations import destination_for
from hrflow_airflow.ledger import Ledger, audit_links
from hrflow_airflow.ledger.schema import ledger_table
from sandbox import lever


def test_audit_links_finds_and_unlinks_what_the_earlier_rule_adopted(sandbox, monkeypatch, tmp_path, capsys):
    state = sandbox.state
    monkeypatch.setenv(
        "AIRFLOW_CONN_HRFLOW_LEDGER", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "l.db")})
    )
    monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(lever.connection(sandbox.url)))
    destination = destination_for("ats_default", "profile")
    records = [{"hrflow_key": f"k{i}", "name": f"F{i} L{i}", "email": f"c{i}@example.com"} for i in range(3)]
    result = destination.deliver(
        plural="profiles", index=0, items=[[r["hrflow_key"], "src"] for r in records], records=records, ledger=Ledger()
    )
    k2 = result["remote_ids"]["k2"].removeprefix("lever:").partition("/")[0]
    state.vendors.lever.candidates[k2]["tags"] = []  # made by 0.2: no marker, our source on a sourced opportunity
    theirs = lever.stranger(state.vendors, "F1", "L1", "c1@example.com")
    contact = state.vendors.lever.candidates[theirs]["contact"]
    ledger = Ledger()
    table = ledger_table()
    with ledger.db.engine.begin() as conn:  # what 0.2 recorded after adopting the first opportunity by email
        conn.execute(
            update(table).where(table.c.object_key == "k1").values(remote_id=f"lever:{theirs}/{contact}", origin=None)
        )
        conn.execute(update(table).where(table.c.object_key == "k2").values(origin=None))  # a legacy row of ours

    assert audit_links.main(["--conn-id", "ats_default"]) == 1  # something fails: a non-zero exit
    listed = capsys.readouterr().out
    assert f"fails\tk1\tlever:{theirs}/{contact}" in listed and "k0" not in listed and "k2" not in listed

    assert audit_links.main(["--conn-id", "ats_default", "--apply"]) == 0
    entry = Ledger().deliveries.lookup(destination.ledger_key, ["k1"])["k1"]
    assert entry.remote_id is None and entry.origin == "unlinked"
    removed = destination.remove(
        plural="profiles", items=[["k1", "src"]], remote_ids={"k1": f"lever:{theirs}"}, mode="archive", ledger=Ledger()
    )
    assert removed["removed"] == [] and theirs not in state.vendors.lever.removed  # never touched again
    assert result["remote_ids"]["k0"].startswith("lever:")
