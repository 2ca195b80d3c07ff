"""
Preview what one profile would send to a destination, without sending anything. Run where the tasks run, with
the same connections and Variables::

    python -m hrflow_airflow.preview --conn-id ats_default --source-key <source> --key <profile key>

It reads the profile from HrFlow, maps it as the sync would (the field map, the CV, the applications) and prints,
to the terminal only, the exact requests the destination would receive for a new candidate: the create's body, how
the CV goes (each adapter describes its own calls: :meth:`~.destinations.whole.WholeCandidate.cv_calls`), how each
application is made (where the vendor makes one record per job, each such record with its own CV) and the calls
that set the team's custom fields. Nothing is logged, stored, read from or written to the ATS: what the ATS would
answer first (a new id, an upload handle, a custom field's id) is shown as a ``<placeholder>``. The output holds
the candidate's data: it is meant for the person at the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from hrflow_airflow.candidate import APPLICATIONS, RESUME, custom_values
from hrflow_airflow.destinations.whole import cv_file_name
from hrflow_airflow.destinations.whole_delivery import sub_key
from hrflow_airflow.mapping import RECORD_KEY, project

NEW_RECORD = "<the new record's id>"


def requests_for(destination: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the requests ``destination`` would receive for ``record``: method, path, body, and what they do."""
    api = getattr(destination, "client", None)
    if api is None or not hasattr(api, "create_call"):  # the JSON endpoint: the record carries it all
        return [batch_request(destination.client.base_url, record)]
    out = record_requests(api, record, NEW_RECORD)
    for application in record.get(APPLICATIONS) or []:
        job = application["ats_job_id"]
        if api.one_record_per_job:
            if job != api.job_of(record):  # a record of its own, with its own marker, CV and custom fields
                own = {**record, RECORD_KEY: sub_key(str(record[RECORD_KEY]), job), APPLICATIONS: [application]}
                out += record_requests(api, own, f"<the record made on job {job}>")
        elif api.applies:
            method, app_path, app_body = api.apply_request(NEW_RECORD, job)
            out.append({"does": f"the application to job {job}", "method": method, "path": app_path, "body": app_body})
        else:
            out.append({"does": f"no application to job {job}: the {api.name} adapter makes none"})
    return out


def batch_request(path: str, record: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON endpoint's request: the record carries its CV (``resume``) and its ``applications``."""
    does = "create (one POST per batch, with an Idempotency-Key)"
    if record.get(RESUME):
        does += "; the CV is the record's resume: the receiver fetches its URL"
    if jobs := [application["ats_job_id"] for application in record.get(APPLICATIONS) or []]:
        does += f"; the applications are the record's applications, to job {', job '.join(jobs)}"
    return {"does": does, "method": "POST", "path": path, "body": {"profiles": [record]}}


def record_requests(api: Any, record: dict[str, Any], remote: str) -> list[dict[str, Any]]:
    """Return the create of one record (``remote``: its id to be), its CV calls and its custom-field calls."""
    key = str(record[RECORD_KEY])
    path, payload = api.create_call(record)
    does = "create (carrying the marker hrflow-key:<key>)"
    if job := api.job_of(record):
        does += f", on job {job}: its application to job {job}"
    out = [{"does": does, "method": "POST", "path": path, "body": payload}]
    resume = record.get(RESUME)
    if resume and api.cv_route == "body":
        out[0]["does"] += "; the CV's URL is in the body: the ATS fetches it"
    elif resume and api.cv_route:
        out += api.cv_calls(remote, resume, cv_file_name(key, resume))
    elif resume:
        out.append({"does": f"no CV: the {api.name} adapter sends none"})
    values = custom_values(record) if api.custom_fields else {}
    for method, call_path, body in api.custom_requests(remote, values, read=False) if values else []:
        out.append({"does": "a custom field's value", "method": method, "path": call_path, "body": body})
    for request in out:  # the id to be, as written here, not URL-quoted
        if "path" in request:
            request["path"] = request["path"].replace(quote(remote, safe=""), remote)
    return out


def preview(conn_id: str, source: str, key: str) -> list[dict[str, Any]]:
    """Return the requests one profile would make at destination ``conn_id`` (nothing is sent)."""
    from airflow.sdk import Variable

    from hrflow_airflow.destinations import destination_for
    from hrflow_airflow.hooks.hrflow_api import HrFlowHook
    from hrflow_airflow.objects import PROFILE
    from hrflow_airflow.sync.config import resolve_field_map, resolve_job_map

    destination = destination_for(conn_id, PROFILE.name)
    field_map = resolve_field_map(
        PROFILE, lambda name: Variable.get(name, default=None), default=destination.default_field_map("profile")
    )
    obj = HrFlowHook().get_object(PROFILE, source, key)
    record = PROFILE.record(key, project(obj, PROFILE.paths(field_map)), field_map, resolve_job_map(Variable.get))
    return requests_for(destination, record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hrflow_airflow.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("--conn-id", default="ats_default", help="the destination connection (default ats_default)")
    parser.add_argument("--source-key", required=True, help="the profile's source key")
    parser.add_argument("--key", required=True, help="the profile key")
    args = parser.parse_args(argv)
    for request in preview(args.conn_id, args.source_key, args.key):
        sys.stdout.write(json.dumps(request, ensure_ascii=False, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
