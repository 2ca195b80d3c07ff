"""
``python -m hrflow_airflow.preview``: one profile's requests, printed for the person at the terminal, and nothing
sent, logged or stored.
"""

from __future__ import annotations

import json
import logging

from hrflow_airflow import preview


def printed(capsys) -> list[dict]:
    return [json.loads(part) for part in capsys.readouterr().out.replace("}\n{", "}\0{").split("\0") if part.strip()]


def test_preview_prints_the_record_with_its_cv_and_jobs_and_sends_nothing(sandbox, monkeypatch, capsys, caplog):
    state = sandbox.state
    (key,) = state.seed("profile", "src", 1)
    state.update("profile", "src", key, lambda p: p.update(tags=[
        {"name": "application_boardKey_jobReference", "value": "board1_job-2"}]))  # fmt: skip
    monkeypatch.setenv("AIRFLOW_VAR_HRFLOW_JOB_MAP", json.dumps({"job-2": "ats-job-22"}))
    state.request_log.clear()
    caplog.set_level(logging.DEBUG)

    assert preview.main(["--source-key", "src", "--key", key]) == 0

    (create,) = printed(capsys)
    (record,) = create["body"]["profiles"]
    profile = state.get("profile", "src", key)
    assert create["method"] == "POST" and create["path"].endswith("/ats/profiles")
    assert record["email"] == profile["info"]["email"] and record["hrflow_key"] == key
    assert record["resume"]["url"] == profile["attachments"][0]["public_url"]  # the original file, not HrFlow's
    assert record["applications"] == [{"board_key": "board1", "job_reference": "job-2", "ats_job_id": "ats-job-22"}]
    # one read of the profile from HrFlow; nothing sent to the ATS, no CV fetched
    assert [line for _, line in state.request_log] == ["GET /v1/profile/indexing"]
    assert not state.ats_area("profiles").bodies and not state.cv_files.fetches
    assert profile["info"]["email"] not in caplog.text and profile["info"]["last_name"] not in caplog.text
