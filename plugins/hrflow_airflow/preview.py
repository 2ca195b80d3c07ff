"""
Preview what one profile would send to a destination, without sending anything. Run where the tasks run, with
the same connections and Variables::

    python -m hrflow_airflow.preview --conn-id ats_default --source-key <source> --key <profile key>

It reads the profile from HrFlow, maps it as the sync would (the field map, the CV, the applications) and prints,
to the terminal only, the exact requests the destination would receive: the create's body, how the CV goes
and how each application is made. Nothing is logged, stored or written to the ATS (Greenhouse's CV call names the
candidate's application: for an existing candidate it may be read). The output holds the candidate's data: it is
meant for the person at the terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hrflow_airflow.candidate import APPLICATIONS, RESUME
from hrflow_airflow.destinations.whole import cv_file_name
from hrflow_airflow.mapping import project


def requests_for(destination: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the requests ``destination`` would receive for ``record``: method, path, body, and what they do."""
    api = getattr(destination, "client", None)
    if api is None or not hasattr(api, "create_call"):  # the JSON endpoint: the record carries it all
        path = destination.client.base_url
        body = {"profiles": [record]}
        return [
            {
                "does": "create (one POST per batch, with an Idempotency-Key)",
                "method": "POST",
                "path": path,
                "body": body,
            }
        ]
    key, remote = str(record["hrflow_key"]), "<the new record's id>"
    path, payload = api.create_call(record)
    out = [{"does": "create (carrying the marker hrflow-key:<key>)", "method": "POST", "path": path, "body": payload}]
    resume = record.get(RESUME)
    if resume and api.cv_route == "body":
        out[0]["does"] += "; the CV's URL is in the body: the ATS fetches it"
    elif resume and api.cv_route == "url":
        method, cv_path, cv_body = api.cv_request(remote, resume, cv_file_name(key, resume))
        out.append({"does": "the CV, by URL", "method": method, "path": cv_path, "body": cv_body})
    elif resume and api.cv_route == "upload":
        cv_path, fields, file_field = api.cv_upload(remote, resume)
        out.append(
            {
                "does": f"the CV, streamed from {resume['url']} (at most [hrflow] max_cv_mb)",
                "method": "POST",
                "path": cv_path,
                "multipart": {**fields, file_field: cv_file_name(key, resume)},
            }
        )
    elif resume:
        out.append({"does": f"no CV: the {api.name} adapter sends none"})
    for application in record.get(APPLICATIONS) or []:
        job = application["ats_job_id"]
        if api.one_record_per_job:
            if job != api.job_of(record):
                job_path, job_body = api.create_call({**record, APPLICATIONS: [application]})
                out.append(
                    {"does": f"a record of its own on job {job}", "method": "POST", "path": job_path, "body": job_body}
                )
        elif api.applies:
            method, app_path, app_body = api.apply_request(remote, job)
            out.append({"does": f"the application to job {job}", "method": method, "path": app_path, "body": app_body})
        else:
            out.append({"does": f"no application to job {job}: the {api.name} adapter makes none"})
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
