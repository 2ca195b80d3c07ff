"""The per-batch steps, called directly: transform (pure), post through the adapter, tag in HrFlow."""

from __future__ import annotations

import json

from hrflow_airflow.ledger import Ledger
from hrflow_airflow.objects import PROFILE
from hrflow_airflow.sealed import record_hash, unseal
from hrflow_airflow.sync.batch import post_batch, tag_batch, transform_batch
from hrflow_airflow.sync.find import seal_batch

FIELD_MAP = {"first_name": "info.first_name", "email": "info.email"}


def a_batch(objects: list[tuple[str, dict]], **extra) -> dict:
    items = [[key, "src", json.dumps(obj)] for key, obj in objects]
    return {**seal_batch(0, items), "concurrency": 4, "lanes": 1, **extra}


def test_transform_maps_each_object_and_reports_a_bad_one_by_key_alone(fernet):
    batch = a_batch(
        [
            ("k1", {"info": {"first_name": "Zoë", "email": "z@example.com"}}),
            ("k2", {"info": {"first_name": "Bo"}, "skills": "not a list"}),
            ("k3", {"info": {"first_name": "Ann"}}),
        ]
    )
    result = transform_batch(batch, {"first_name": "info.first_name", "skills": "skills[].name"})
    assert result["items"] == [["k1", "src"], ["k3", "src"]]
    assert [f["key"] for f in result["failed"]] == ["k2"] and "mapping failed" in result["failed"][0]["reason"]
    assert result["count"] == 2 and result["concurrency"] == 4 and result["ref"] is None
    records = unseal(result)
    assert [r["hrflow_key"] for r in records] == ["k1", "k3"]
    assert "Zoë" not in json.dumps({k: v for k, v in result.items() if k != "sealed"})  # only sealed


def test_transform_skips_what_a_stopped_run_already_tagged(fernet):
    batch = {**a_batch([("k1", {"info": {}}), ("k2", {"info": {}})]), "skip": ["k1"]}
    assert transform_batch(batch, FIELD_MAP)["items"] == [["k2", "src"]]


def test_post_then_tag_sends_once_tags_and_the_ledger_keeps_what_was_accepted(sandbox, fernet, ledger_db):
    keys = sandbox.state.seed("profile", "src", 3)
    objects = [(k, sandbox.state.get("profile", "src", k)) for k in keys]
    transformed = transform_batch(a_batch(objects), FIELD_MAP)

    posted = post_batch(PROFILE, transformed, run_id="r1")
    assert posted["accepted"] == [[k, "src"] for k in keys] and posted["rejected"] == []
    assert posted["ledger_key"] == "ats_default" and posted["resumed"] == 0 and posted["mapped_all"] is True
    assert sandbox.state.ats_area("profiles").requests == 1
    assert set(Ledger().deliveries.lookup("ats_default", keys)) == set(keys)  # accepted, not yet tagged

    again = post_batch(PROFILE, transformed, run_id="r1")  # a retry after the answer: the ledger says accepted
    assert again["resumed"] == 3 and sandbox.state.ats_area("profiles").requests == 1

    tagged = tag_batch(PROFILE, posted, {})
    assert (tagged["tagged"], tagged["skipped"], tagged["failed"]) == (3, 0, [])
    assert tagged["by_container"] == {"src": {"tagged": 3, "skipped": 0}}
    assert all({"name": "sync", "value": "1"} in sandbox.state.get("profile", "src", k)["tags"] for k in keys)
    entries = Ledger().deliveries.lookup("ats_default", keys)  # kept, synced, with the hash of the accepted record
    assert {e.state for e in entries.values()} == {"synced"} and set(entries) == set(keys)
    records = {r["hrflow_key"]: r for r in unseal(transformed)}
    assert all(entries[k].synced_hash == record_hash(records[k]) for k in keys)

    assert tag_batch(PROFILE, posted, {})["skipped"] == 3  # already carries sync=1: not edited again


def test_a_refused_record_fails_alone_and_only_the_rest_is_tagged(sandbox, fernet, ledger_db):
    keys = sandbox.state.seed("profile", "src", 2)
    sandbox.state.ats_reject_keys[keys[1]] = "phone is invalid"
    objects = [(k, sandbox.state.get("profile", "src", k)) for k in keys]
    posted = post_batch(PROFILE, transform_batch(a_batch(objects), FIELD_MAP), run_id="r1")
    assert posted["accepted"] == [[keys[0], "src"]] and [f["key"] for f in posted["rejected"]] == [keys[1]]
    assert "HTTP 422" in posted["rejected"][0]["reason"]
    assert tag_batch(PROFILE, posted, {})["tagged"] == 1


def test_refusals_of_one_record_fail_the_first_run_then_are_known_then_quarantined(sandbox, fernet, ledger_db):
    [key] = sandbox.state.seed("profile", "src", 1)
    obj = sandbox.state.get("profile", "src", key)
    obj["info"]["email"] = "not-an-email"
    transformed = transform_batch(a_batch([(key, obj)]), FIELD_MAP)

    runs = [post_batch(PROFILE, transformed, run_id=f"run{i}", max_refusals=3) for i in range(1, 5)]

    new, known, held = (
        [[f["reason"] for f in run["rejected"]] for run in runs],
        [len(run["refused"]) for run in runs],
        [len(run["quarantined"]) for run in runs],
    )
    assert len(new[0]) == 1 and new[1] == [] and len(new[2]) == 1 and new[3] == []  # pages: first, quarantine
    assert new[2][0].startswith("quarantined after 3 refusals") and known == [0, 1, 0, 0] and held == [0, 0, 0, 1]
    assert "not-an-email" not in repr(runs) and "<redacted>" in new[0][0]  # the echoed value is redacted
    assert sandbox.state.ats_area("profiles").requests == 3  # the fourth run sent nothing
    [(_, quarantined_key, entry)] = Ledger().refusals.quarantined()
    assert quarantined_key == key and entry.refusals == 3 and "not-an-email" not in entry.reason

    again = post_batch(PROFILE, transformed, run_id="run4", max_refusals=3, retry_quarantined=True)
    assert sandbox.state.ats_area("profiles").requests == 4 and len(again["refused"]) == 0

    obj["info"]["email"] = "fixed@example.com"  # its record changed: sent, accepted, out of quarantine
    fixed = post_batch(PROFILE, transform_batch(a_batch([(key, obj)]), FIELD_MAP), run_id="run5", max_refusals=3)
    assert fixed["accepted"] == [[key, "src"]] and Ledger().refusals.quarantined() == []


def test_a_retried_task_does_not_count_its_refusal_twice(sandbox, fernet, ledger_db):
    [key] = sandbox.state.seed("profile", "src", 1)
    sandbox.state.ats_reject_keys[key] = "refused"
    transformed = transform_batch(a_batch([(key, sandbox.state.get("profile", "src", key))]), FIELD_MAP)
    first = post_batch(PROFILE, transformed, run_id="same", max_refusals=2)
    retry = post_batch(PROFILE, transformed, run_id="same", max_refusals=2)
    assert len(first["rejected"]) == 1 and len(retry["rejected"]) == 1 and Ledger().refusals.quarantined() == []


def test_a_listing_batch_goes_on_with_its_records_unopened_and_its_mapping_failures_by_key(fernet, tmp_path):
    """search maps as it reads: transform passes the batch file's records on by reference and reports failures."""
    from hrflow_airflow.sync.find import seal_records
    from hrflow_airflow.sync.reading import map_item
    from hrflow_airflow.sync.spill import BatchSpiller, load_beside, mark_done

    field_map = {"first_name": "info.first_name", "skills": "skills[].name"}
    objects = [
        {"key": "k1", "info": {"first_name": "Zoë"}, "skills": [{"name": "SQL"}]},
        {"key": "k2", "info": {"first_name": "Bo"}, "skills": "not a list"},
        {"key": "k3", "info": {"first_name": "Ann"}},
    ]
    spiller = BatchSpiller(seal_records, 10, tmp_path, {"concurrency": 4, "lanes": 1})
    for obj in objects:
        spiller.add(map_item(PROFILE, obj, "src", field_map))
    [batch] = spiller.close()
    assert batch["count"] == 3 and batch["containers"] == {"src": 3}  # found: the failure too
    assert "Zoë" not in (tmp_path / "batch-00000.json").read_text()  # sealed in the file

    result = transform_batch(batch, field_map, kind=PROFILE)
    assert result["items"] == [["k1", "src"], ["k3", "src"]] and result["count"] == 2
    assert [f["key"] for f in result["failed"]] == ["k2"] and "mapping failed: field 'skills'" in result["failed"][0][
        "reason"
    ]
    assert result["records_ref"] == batch["ref"]  # the batch's own records: nothing written again
    records = unseal(load_beside(result, "records"))
    assert records == [PROFILE.record("k1", objects[0], field_map), PROFILE.record("k3", objects[2], field_map)]
    assert records[0]["skills"] == ["SQL"] and records[0]["resume"] is None and records[0]["applications"] == []

    mark_done(batch["ref"], [["k1", "src"]], complete=False)  # tagged by a stopped run this one resumes
    again = transform_batch(batch, field_map, kind=PROFILE)
    assert again["items"] == [["k3", "src"]] and again["records_ref"] == f"{batch['ref']}.records"
    assert [r["hrflow_key"] for r in unseal(load_beside(again, "records"))] == ["k3"]


def test_update_fields_govern_the_cv_and_the_applications_like_any_field():
    from hrflow_airflow.sync.batch import overwritable

    record = {"hrflow_key": "k", "email": "e", "phone": "p", "resume": {"url": "u"}, "applications": [{"x": 1}]}
    assert overwritable(record, ["phone"]) == {"hrflow_key": "k", "phone": "p"}  # the CV is not sent again
    assert overwritable(record, ["phone", "resume"]) == {"hrflow_key": "k", "phone": "p", "resume": {"url": "u"}}
    assert overwritable(record, None) == record


def an_update_batch(record: dict, remote_ids: dict[str, str]) -> dict:
    """Return an update batch (``mode="update"``) of one synced profile's changed record."""
    from hrflow_airflow.sealed import seal_items
    from hrflow_airflow.sync.batch import compact

    items = [[record["hrflow_key"], "src"]]
    return {
        "index": 0,
        "items": items,
        "failed": [],
        "count": 1,
        "mode": "update",
        "remote_ids": remote_ids,
        "bases": {record["hrflow_key"]: "h"},
        **seal_items([compact(record)]),
    }


def created_then_synced(sandbox, monkeypatch, connection: dict | None, fields: dict) -> tuple[dict, str, dict]:
    """Create k0 (its CV unreachable: isolated) applied to two jobs; mark it synced; return record, key and ids."""
    from hrflow_airflow.destinations import destination_for

    if connection is not None:
        monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(connection))
    sandbox.state.cv_files.missing.add("k0")
    url = f"{sandbox.url}/files/k0/original-v1.pdf"
    resume = {"url": url, "file_name": "cv.pdf", "content_type": "application/pdf", "size": 3000, "fingerprint": "a@1"}
    jobs = [{"board_key": "b", "job_reference": job, "ats_job_id": job} for job in ("job-1", "job-2")]
    record = {"hrflow_key": "k0", "email": "c0@example.com", **fields, "resume": resume, "applications": jobs}
    dest = destination_for("ats_default", "profile")
    created = dest.deliver(plural="profiles", index=0, items=[["k0", "src"]], records=[record], ledger=Ledger())
    assert created["accepted"] == [["k0", "src"]] and [f["key"] for f in created["cv_isolated"]] == ["k0"]
    Ledger().deliveries.mark_synced(dest.ledger_key, ["k0"])  # tagged: a later run retries its CV
    assert Ledger().parts.to_retry(dest.ledger_key, ["src"]) == [("k0", "src")]
    return record, dest.ledger_key, created["remote_ids"]


def test_fields_update_fields_leave_out_are_not_governed_neither_removed_nor_retried(
    sandbox, fernet, ledger_db, monkeypatch
):
    """
    [hrflow] update_fields without the CV and the applications: the update neither sends them nor reads their
    absence as a removal (no application left, none listed), and the CV it leaves out starts no endless retry.
    """
    from sandbox import lever

    record, ledger_key, remote = created_then_synced(
        sandbox, monkeypatch, lever.connection(sandbox.url), {"name": "A B"}
    )
    account = sandbox.state.vendors.lever
    assert len(account.candidates) == 2 and account.jobs_by_email() == {"c0@example.com": ["job-1", "job-2"]}
    sandbox.state.cv_files.missing.clear()  # reachable now: still not sent, the update does not govern the CV
    changed = {**record, "email": "new@example.com", "resume": {**record["resume"], "fingerprint": "a@2"}}
    posted = post_batch(PROFILE, an_update_batch(changed, remote), run_id="r2", update_fields=["email"])
    assert posted["updated"] == [["k0", "src"]] and posted["rejected"] == []
    assert posted.get("left_applications", []) == []  # no tag was removed
    parts = Ledger().parts.of(ledger_key, ["k0"])["k0"]
    assert {name: part.state for name, part in parts.items() if name.startswith("job:")} == {
        "job:job-1": "sent",
        "job:job-2": "sent",
    }
    assert sum(len(files) for files in account.files.values()) == 0  # a CV update_fields leaves out is not sent
    assert Ledger().parts.to_retry(ledger_key, ["src"]) == []  # and no later run reads the profile again for it
    again = post_batch(PROFILE, an_update_batch(changed, remote), run_id="r3", update_fields=["email"])
    assert again.get("left_applications", []) == [] and len(account.candidates) == 2
    governed = post_batch(PROFILE, an_update_batch(changed, remote), run_id="r4", update_fields=None)
    assert governed["cvs"] == 1 and governed.get("left_applications", []) == []  # governed again: the CV goes
    assert sorted(len(files) for files in account.files.values()) == [1, 1]  # once, to each of its records


def test_a_cv_update_fields_leave_out_starts_no_endless_retry_at_the_json_endpoint(
    sandbox, fernet, ledger_db, monkeypatch
):
    record, ledger_key, remote = created_then_synced(sandbox, monkeypatch, None, {"first_name": "A"})
    sandbox.state.cv_files.missing.clear()
    changed = {**record, "email": "new@example.com"}
    posted = post_batch(PROFILE, an_update_batch(changed, remote), run_id="r2", update_fields=["email"])
    assert posted["updated"] == [["k0", "src"]]
    assert "resume" not in sandbox.state.ats_area("profiles").current["k0"]  # the CV is not governed by it
    assert Ledger().parts.to_retry(ledger_key, ["src"]) == []
