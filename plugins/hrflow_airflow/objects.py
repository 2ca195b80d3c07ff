"""What differs between the profile and job pipelines: one small description per object kind."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hrflow_airflow.candidate import PROFILE_READS, enrich
from hrflow_airflow.mapping import extract, to_record

MAX_KEY_LENGTH = 128  # HrFlow's keys are 40 hex characters; a longer "key" is not one
# letters, digits, '-' and '_': every HrFlow key, and nothing that could mean a path, a query or a header
KEY_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_KEY_LENGTH}}}")


@dataclass(frozen=True)
class ObjectKind:
    """Describe an HrFlow object kind: where it lives, how the SDK reaches it, how it maps to an ATS record."""

    name: str  # SDK attribute and singular noun: "profile" / "job"
    plural: str  # ATS body key, search data key, task and DAG naming: "profiles" / "jobs"
    container: str  # "source" / "board"
    ats_conn_id: str
    default_field_map: Mapping[str, str] = field(default_factory=dict)
    whole_candidate: bool = False  # its records carry the CV and the applications (hrflow_airflow.candidate)

    def paths(self, field_map: Mapping[str, str]) -> list[str]:
        """Return the paths of an object its record reads: the field map's, and the CV's and applications'."""
        return [*field_map.values(), *(PROFILE_READS if self.whole_candidate else ())]

    def record(
        self, key: str, data: Mapping[str, Any], field_map: Mapping[str, str], job_map: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """Return the ATS record of one trimmed object: its mapped fields, and for a profile its CV and jobs."""
        record = to_record(key, data, field_map)
        return enrich(record, data, job_map) if self.whole_candidate else record

    @property
    def container_key_field(self) -> str:
        """Return the SDK/API field naming one container: ``source_key`` / ``board_key``."""
        return f"{self.container}_key"

    @property
    def containers_param(self) -> str:
        """Return the search argument and DAG param naming the containers: ``source_keys`` / ``board_keys``."""
        return f"{self.container}_keys"

    @property
    def containers_variable(self) -> str:
        """Return the Airflow Variable holding the default container keys."""
        return f"hrflow_{self.containers_param}"

    @property
    def field_map_variable(self) -> str:
        """Return the Airflow Variable that may replace :attr:`default_field_map`."""
        return f"hrflow_{self.plural}_field_map"

    @property
    def dag_id(self) -> str:
        return f"hrflow_{self.plural}_to_ats"

    def search(self, client: Any, containers: list[str], **filters: Any) -> dict[str, Any]:
        """Call ``<kind>.searching.list`` on the SDK client."""
        return getattr(client, self.name).searching.list(**{self.containers_param: containers}, **filters)

    def list_stored(self, client: Any, containers: list[str], **params: Any) -> dict[str, Any]:
        """Call ``<kind>.storing.list`` (``GET /storing/<plural>``) on the SDK client, with whole objects."""
        return getattr(client, self.name).storing.list(containers, **{f"return_{self.name}": True}, **params)

    def get(self, client: Any, container: str, key: str) -> dict[str, Any]:
        """Call ``<kind>.storing.get`` on the SDK client."""
        return getattr(client, self.name).storing.get(container, key=key)

    def edit(self, client: Any, container: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Call ``<kind>.storing.edit`` (a PUT of the whole object) on the SDK client."""
        return getattr(client, self.name).storing.edit(container, obj)

    def container_of(self, obj: Mapping[str, Any], default: str | None = None) -> str | None:
        """Return the container key an object was found in."""
        return extract(obj, f"{self.container}.key") or obj.get(self.container_key_field) or default


PROFILE = ObjectKind(
    name="profile",
    plural="profiles",
    container="source",
    ats_conn_id="ats_default",
    whole_candidate=True,
    default_field_map={
        f: f"info.{f}" for f in ("first_name", "last_name", "email", "phone", "date_birth", "gender", "summary")
    },
)

JOB = ObjectKind(
    name="job",
    plural="jobs",
    container="board",
    ats_conn_id="ats_jobs_default",
    default_field_map={
        "reference": "reference",
        "name": "name",
        "summary": "summary",
        "url": "url",
        "location_text": "location.text",
        "created_at": "created_at",
        "skills": "skills[].name",
    },
)

KINDS = {kind.name: kind for kind in (PROFILE, JOB)}
SYNC_DAGS = {kind.dag_id: kind for kind in KINDS.values()}  # each sync DAG's object kind
