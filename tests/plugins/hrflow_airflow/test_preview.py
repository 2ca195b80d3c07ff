"""
``python -m hrflow_airflow.preview``: one profile's requests, printed for the person at the terminal, and nothing
sent, logged or stored, for every destination: the JSON endpoint and each adapter the registry discovers.
"""

from __future__ import annotations

import json
import logging

import pytest

from hrflow_airflow import preview
from hrflow_airflow.candidate import APPLICATION_TAG
from hrflow_airflow.destinations import REGISTRY, adapters, destination_for
from sandbox.registry import BY_NAME, VENDORS

JSON_ENDPOINT = "hrflow_ats"
JOBS = {"job-2": "22", "job-3": "33"}  # job reference -> ATS job id (Variable hrflow_job_map)


def printed(capsys) -> list[dict]:
    return [json.loads(part) for part in capsys.readouterr().out.replace("}\n{", "}\0{").split("\0") if part.strip()]


def applied(state, key: str, *references: str) -> None:
    tags = [{"name": APPLICATION_TAG, "value": f"board1_{reference}"} for reference in references]
    state.update("profile", "src", key, lambda p: p.update(tags=tags))


def test_preview_prints_the_record_with_its_cv_and_jobs_and_sends_nothing(sandbox, monkeypatch, capsys, caplog):
    state = sandbox.state
    (key,) = state.seed("profile", "src", 1)
    applied(state, key, "job-2")
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


def test_every_adapter_of_the_registry_has_an_emulator():
    """The test below covers every destination: the JSON endpoint and each adapter has its sandbox emulator."""
    emulated = {adapters()[JSON_ENDPOINT][1], *(adapters()[vendor.name][1] for vendor in VENDORS)}
    assert emulated == set(REGISTRY)


@pytest.mark.parametrize("name", [JSON_ENDPOINT, *(vendor.name for vendor in VENDORS)])
def test_preview_prints_each_destinations_cv_route_and_application_routes(name, sandbox, monkeypatch, capsys, caplog):
    """
    Each destination prints its CV call (on each record it makes: one per job where the vendor makes one per job),
    an application route per job and its custom-field calls; nothing reaches the emulator, nothing is logged.
    """
    state = sandbox.state
    if name != JSON_ENDPOINT:
        monkeypatch.setenv("AIRFLOW_CONN_ATS_DEFAULT", json.dumps(BY_NAME[name].connection(sandbox.url)))
    client = destination_for("ats_default", "profile").client
    custom = getattr(client, "custom_fields", False)
    if custom:  # the vendor's own map, and one custom field
        field_map = {**client.profile_field_map, "custom:seniority": "info.summary"}
        monkeypatch.setenv("AIRFLOW_VAR_HRFLOW_PROFILES_FIELD_MAP", json.dumps(field_map))
    monkeypatch.setenv("AIRFLOW_VAR_HRFLOW_JOB_MAP", json.dumps(JOBS))
    (key,) = state.seed("profile", "src", 1)
    applied(state, key, *JOBS)
    state.request_log.clear()
    caplog.set_level(logging.DEBUG)

    assert preview.main(["--conn-id", "ats_default", "--source-key", "src", "--key", key]) == 0

    requests = [entry for entry in printed(capsys) if entry.get("method") and entry.get("path")]
    assert "%3C" not in json.dumps(requests)  # a placeholder id is shown as written, not URL-quoted
    profile = state.get("profile", "src", key)
    url = profile["attachments"][0]["public_url"]
    records = len(JOBS) if getattr(client, "one_record_per_job", False) else 1
    # the CV route: a request carrying (or streaming) the CV's URL, once per record made
    cv_routes = [entry for entry in requests if url in json.dumps(entry)]
    assert len(cv_routes) == records and all("CV" in entry["does"] for entry in cv_routes), requests
    # the application route of each job
    for job in JOBS.values():
        assert [entry for entry in requests if f"job {job}" in entry["does"]], (job, requests)
    if custom:  # the custom-field calls: in the create's body, or calls of their own on each record
        carried = [entry for entry in requests if "seniority" in json.dumps(entry.get("body"))]
        assert len(carried) == records, requests
    # one read of the profile from HrFlow: nothing reached the emulator, no CV was fetched, nothing logged
    assert [line for _, line in state.request_log] == ["GET /v1/profile/indexing"]
    assert not state.cv_files.fetches
    assert profile["info"]["email"] not in caplog.text and profile["info"]["last_name"] not in caplog.text
