"""End-to-end runs of hrflow_profiles_to_ats and hrflow_jobs_to_ats: real Airflow, real SDK, the sandbox."""

from __future__ import annotations

import re

import pytest

from hrflow_airflow.objects import JOB, PROFILE, ObjectKind
from sandbox.objects import API_SECRET, ATS_API_KEY, make_key
from sandbox.state import Fault

CONTAINER = make_key("container", "e2e")
SYNC_TAG = {"name": "sync", "value": "1"}


@pytest.fixture
def kind() -> ObjectKind:
    """Profiles; jobs run the same factory and code, so only the tests of what differs run for both."""
    return PROFILE


BOTH_KINDS = pytest.mark.parametrize("kind", [PROFILE, JOB], ids=lambda k: k.plural)


@pytest.fixture(params=["honours-key", "ignores-key"])
def receiver(request, sandbox) -> str:
    """The ATS receiver: one that replays a repeated Idempotency-Key, and one that ignores it (most real ones)."""
    sandbox.state.honour_idempotency = request.param == "honours-key"
    return request.param


def expected_record(kind: ObjectKind, obj: dict) -> dict:
    """Spell out the ATS record each kind must produce (independently of the mapping code)."""
    if kind is PROFILE:
        info = obj["info"]
        return {
            "hrflow_key": obj["key"],
            "first_name": info["first_name"],
            "last_name": info["last_name"],
            "email": info["email"],
            "phone": info["phone"],
            "date_birth": info["date_birth"],
            "gender": info["gender"],
            "summary": info["summary"],
            "resume": expected_resume(obj),
            "applications": [],  # no application_boardKey_jobReference tag
        }
    return {
        "hrflow_key": obj["key"],
        "reference": obj["reference"],
        "name": obj["name"],
        "summary": obj["summary"],
        "url": obj["url"],
        "location_text": obj["location"]["text"],
        "created_at": obj["created_at"],
        "skills": [s["name"] for s in obj["skills"]],
    }


def expected_resume(obj: dict) -> dict:
    """Spell out the CV a profile's record carries: its original file (HrFlow's attachment of type original)."""
    (original,) = [a for a in obj["attachments"] if a["type"] == "original"]
    return {
        "url": original["public_url"],
        "file_name": f"{original['original_file_name']}{original['extension']}",
        "content_type": "application/pdf",
        "size": original["file_size"],
        "fingerprint": f"{original['alt']}@{original['updated_at']}",
    }


def conf(kind: ObjectKind, **extra) -> dict:
    return {kind.containers_param: [CONTAINER], **extra}


def records_at_ats(sandbox, kind: ObjectKind) -> dict[str, dict]:
    return {r["hrflow_key"]: r for body in sandbox.state.ats_area(kind.plural).bodies for r in body[kind.plural]}


def assert_clean_logs(result, sandbox, kind: ObjectKind, keys: list[str]) -> None:
    for secret in (API_SECRET, ATS_API_KEY):
        assert secret not in result.output
    if kind is PROFILE:
        for key in keys:
            info = sandbox.state.get("profile", CONTAINER, key)["info"]
            assert info["phone"] not in result.output
            assert info["email"] not in result.output


@BOTH_KINDS
def test_syncs_every_page_once_and_keeps_tags(run_dag, sandbox, kind, receiver):
    state = sandbox.state
    fresh = state.seed(kind.name, CONTAINER, 23, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)  # tags null
    sync0 = state.seed(
        kind.name, CONTAINER, 4, start=23, tags=[{"name": "sync", "value": "0"}, {"name": "stage", "value": "new"}]
    )
    done = state.seed(kind.name, CONTAINER, 3, start=27, tags=[{"name": "sync", "value": 1}])
    unsynced = fresh + sync0
    before = {k: state.get(kind.name, CONTAINER, k) for k in unsynced}

    result = run_dag(kind.dag_id, conf(kind, page_size=7, batch_size=10))

    assert result.succeeded, result.output[-3000:]
    ats = state.ats_area(kind.plural)
    assert dict(ats.applied) == {k: 1 for k in unsynced}
    assert len(ats.bodies) == 3  # 27 objects in batches of 10
    assert records_at_ats(sandbox, kind) == {k: expected_record(kind, before[k]) for k in unsynced}
    assert state.calls[f"GET /v1/storing/{kind.plural}"] >= 5  # a manual run sweeps: 30 stored objects at 7 per page
    for key in unsynced:
        after = state.get(kind.name, CONTAINER, key)
        assert after["tags"] == (before[key]["tags"] or []) + [SYNC_TAG]
        assert state.edits[key] == 1
    assert not any(state.edits[k] for k in done)
    assert result.summary["found"] == 27
    assert (result.summary["posted"], result.summary["tagged"], result.summary["failed"]) == (27, 27, 0)
    assert_clean_logs(result, sandbox, kind, unsynced)


def test_rerun_posts_nothing(run_dag, sandbox, kind, receiver):
    sandbox.state.seed(kind.name, CONTAINER, 5)
    assert run_dag(kind.dag_id, conf(kind)).succeeded
    requests = sandbox.state.ats_area(kind.plural).requests

    again = run_dag(kind.dag_id, conf(kind))

    assert again.succeeded, again.output[-3000:]
    assert sandbox.state.ats_area(kind.plural).requests == requests
    assert again.summary["found"] == 0 and again.summary["posted"] == 0


@BOTH_KINDS
def test_edit_made_during_run_survives(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 3)
    target = keys[1]

    def someone_edits(_name, _records):
        def change(obj):
            obj["summary"] = "edited by a recruiter"
            obj["tags"] = (obj.get("tags") or []) + [{"name": "stage", "value": "interview"}]

        sandbox.state.update(kind.name, CONTAINER, target, change)

    sandbox.state.on_ats_post = someone_edits

    result = run_dag(kind.dag_id, conf(kind))

    assert result.succeeded, result.output[-3000:]
    after = sandbox.state.get(kind.name, CONTAINER, target)
    assert after["summary"] == "edited by a recruiter"
    assert after["tags"] == [{"name": "stage", "value": "interview"}, SYNC_TAG]


def test_ats_503_then_success_posts_once(run_dag, sandbox, kind, receiver):
    keys = sandbox.state.seed(kind.name, CONTAINER, 4)
    sandbox.state.faults.append(Fault(path=f"/ats/{kind.plural}", status=503, times=2))

    result = run_dag(kind.dag_id, conf(kind))

    assert result.succeeded, result.output[-3000:]
    assert sandbox.state.calls[f"POST /ats/{kind.plural}"] == 3
    assert dict(sandbox.state.ats_area(kind.plural).applied) == {k: 1 for k in keys}
    assert "HTTP 503; retrying" in result.output


def test_date_only_created_at_filters_still_post_every_profile_once(run_dag, sandbox, kind):
    """
    HrFlow honouring only the date of created_at_min/_max, as hrflow 4.3.0 documents them: 900 profiles over six
    days and 250 in one second (400 that day), a 500-deep result window. Each reaches the ATS once, tagged once.
    """
    keys = sandbox.state.seed(kind.name, CONTAINER, 900, created_at="2026-03-01T00:00:00+00:00", spread_seconds=576)
    keys += sandbox.state.seed(kind.name, CONTAINER, 250, start=900, created_at="2026-03-03T10:15:00+00:00")
    sandbox.state.date_only_filters = True
    sandbox.state.max_result_window = 500

    result = run_dag(kind.dag_id, conf(kind, page_size=100), env={"AIRFLOW__HRFLOW__RESULT_WINDOW": "500"})

    assert result.succeeded, result.output[-3000:]
    assert dict(sandbox.state.ats_area(kind.plural).applied) == {k: 1 for k in keys}
    assert {k: sandbox.state.edits[k] for k in keys} == {k: 1 for k in keys}
    assert sandbox.state.calls["refused: result window"] == 0


@pytest.mark.parametrize("after_apply", ["lost", "502"])
def test_lost_ats_response_is_retried_with_the_same_key(run_dag, sandbox, kind, receiver, after_apply):
    """
    The ATS applied the batch but its answer was lost, or a gateway in front of it answered 502: the retry sends
    the same batch with the same key. Only a receiver that honours Idempotency-Key can tell; one that ignores it
    gets the batch twice. That is the one case where the JSON batch endpoint is at-least-once (README, sync.md).
    """
    keys = sandbox.state.seed(kind.name, CONTAINER, 4)
    fault = {"lose_response": True} if after_apply == "lost" else {"applied_status": 502, "reason": "Bad Gateway"}
    sandbox.state.faults.append(Fault(path=f"/ats/{kind.plural}", **fault))

    result = run_dag(kind.dag_id, conf(kind))

    assert result.succeeded, result.output[-3000:]
    ats = sandbox.state.ats_area(kind.plural)
    assert ats.requests == 2 and ats.unanswered == set(keys)  # what the chaos bench counts duplicates against
    if receiver == "honours-key":
        assert ats.replays == 1 and dict(ats.applied) == {k: 1 for k in keys}
    else:
        assert ats.replays == 0 and dict(ats.applied) == {k: 2 for k in keys}
    assert sandbox.state.snapshot()["synced"][kind.name] == sorted(keys)
    assert {k: sandbox.state.edits[k] for k in keys} == {k: 1 for k in keys}


def test_hrflow_429_honours_retry_after(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 3)
    sandbox.state.faults.append(Fault(path=f"/v1/{kind.plural}/searching", status=429, retry_after=1.5))
    sandbox.state.faults.append(Fault(path=f"/v1/{kind.name}/indexing", method="PUT", status=429, retry_after=1))

    result = run_dag(kind.dag_id, conf(kind))

    assert result.succeeded, result.output[-3000:]
    assert "HTTP 429; retrying in 1.5s" in result.output
    assert "HTTP 429; retrying in 1.0s" in result.output
    assert sandbox.state.snapshot()["synced"][kind.name] == sorted(keys)


def test_dry_run_posts_and_tags_nothing(run_dag, sandbox, kind):
    sandbox.state.seed(kind.name, CONTAINER, 6)

    result = run_dag(kind.dag_id, conf(kind, dry_run=True))

    assert result.succeeded, result.output[-3000:]
    assert sandbox.state.ats_area(kind.plural).requests == 0
    assert not sandbox.state.edits
    assert result.summary["dry_run"] is True
    assert (result.summary["found"], result.summary["transformed"], result.summary["posted"]) == (6, 6, 0)


def test_ats_422_for_one_record_fails_it_alone_and_the_run_after_the_rest(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 9, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    sandbox.state.ats_reject_keys[keys[4]] = "field 'email' is invalid"  # lands in the second batch of 3

    result = run_dag(kind.dag_id, conf(kind, batch_size=3))

    assert not result.succeeded
    rejected = {keys[4]}  # isolated: its batch's two good records are accepted in the same run
    assert set(sandbox.state.ats_area(kind.plural).applied) == set(keys) - rejected
    assert sandbox.state.snapshot()["synced"][kind.name] == sorted(set(keys) - rejected)
    assert result.summary["posted"] == 8 and result.summary["tagged"] == 8
    failed = {f["key"]: f["reason"] for f in result.summary["failed_keys"]}
    assert set(failed) == rejected
    assert all("ATS HTTP 422" in r and "'email' is invalid" in r for r in failed.values())
    assert f"1 {kind.plural} failed" in result.output


def test_explicit_window_takes_only_objects_created_in_it(run_dag, sandbox, kind):
    state = sandbox.state
    early = state.seed(kind.name, CONTAINER, 2, created_at="2026-01-01T00:00:00+00:00")
    inside = state.seed(kind.name, CONTAINER, 3, start=2, created_at="2026-02-01T00:00:00+00:00", spread_seconds=3600)
    edge = state.seed(kind.name, CONTAINER, 1, start=5, created_at="2026-02-02T00:00:00+00:00")

    result = run_dag(
        kind.dag_id, conf(kind, created_at_min="2026-02-01T00:00:00+00:00", created_at_max="2026-02-02T00:00:00+00:00")
    )

    assert result.succeeded, result.output[-3000:]
    assert set(state.ats_area(kind.plural).applied) == set(inside)
    assert not set(state.ats_area(kind.plural).applied) & set(early + edge)


@pytest.mark.parametrize(
    ("run_conf", "variables", "message"),
    [
        ({}, {}, "No {container} keys: set Variable 'hrflow_{container}_keys'"),
        (
            {"created_at_min": "2026-02-02T00:00:00Z", "created_at_max": "2026-02-01T00:00:00Z"},
            None,
            "created_at_min (2026-02-02T00:00:00+00:00) must be before created_at_max",
        ),
        ({"batch_size": 0}, None, "batch_size"),
    ],
    ids=["no-containers", "inverted-window", "batch-size-0"],
)
def test_bad_configuration_fails_clearly_and_sends_nothing(run_dag, sandbox, kind, run_conf, variables, message):
    sandbox.state.seed(kind.name, CONTAINER, 2)
    full_conf = run_conf if variables == {} else conf(kind, **run_conf)

    result = run_dag(kind.dag_id, full_conf or None)

    assert not result.succeeded
    assert message.format(container=kind.container) in result.output
    assert sandbox.state.ats_area(kind.plural).requests == 0 and not sandbox.state.edits


def test_unknown_container_fails_fast_with_hrflow_message(run_dag, sandbox, kind):
    result = run_dag(kind.dag_id, {kind.containers_param: [make_key("nope")]})

    assert not result.succeeded
    assert "Unable to find object" in result.output
    assert sandbox.state.calls[f"GET /v1/storing/{kind.plural}"] == 1  # a manual run sweeps; not retried


def test_variable_supplies_containers(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 2)

    result = run_dag(kind.dag_id, variables={kind.containers_variable: [CONTAINER]})

    assert result.succeeded, result.output[-3000:]
    assert set(sandbox.state.ats_area(kind.plural).applied) == set(keys)


@BOTH_KINDS
def test_custom_field_map_and_per_item_mapping_failure(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 4)
    broken = keys[2]
    field_map = (
        {"given": "info.first_name", "urls": "info.urls[].type"}
        if kind is PROFILE
        else {"title": "name", "skill_names": "skills[].name", "city": "location.text"}
    )
    list_field = "info.urls" if kind is PROFILE else "skills"

    def break_list(obj):
        holder = obj["info"] if kind is PROFILE else obj
        holder[list_field.split(".")[-1]] = "not a list"

    sandbox.state.update(kind.name, CONTAINER, broken, break_list)

    result = run_dag(kind.dag_id, conf(kind), variables={kind.field_map_variable: field_map})

    assert not result.succeeded
    records = records_at_ats(sandbox, kind)
    assert set(records) == set(keys) - {broken}
    for key, record in records.items():
        obj = sandbox.state.get(kind.name, CONTAINER, key)
        if kind is PROFILE:
            assert record == {
                "hrflow_key": key,
                "given": obj["info"]["first_name"],
                "urls": [u["type"] for u in obj["info"]["urls"]],
                "resume": expected_resume(obj),  # a profile's CV and jobs go whatever the field map
                "applications": [],
            }
        else:
            assert record == {
                "hrflow_key": key,
                "title": obj["name"],
                "skill_names": ["python", "sql"],
                "city": "Paris, France",
            }
    [failure] = result.summary["failed_keys"]
    assert failure["key"] == broken and "mapping failed" in failure["reason"] and "expected a list" in failure["reason"]
    assert broken not in sandbox.state.snapshot()["synced"][kind.name]


# -- the real HrFlow API: search eligibility, index lag, exactly once across runs, error answers ----------------
def _no_text(obj):
    obj["text"] = ""


def _no_identity(obj):
    """No email, no name, and fewer than half of the other personal fields: HrFlow search skips it."""
    obj["info"].update(
        email=None, first_name=None, last_name=None, full_name=None, phone=None, date_birth=None, gender=None, urls=[]
    )


@BOTH_KINDS
def test_full_sweep_syncs_objects_search_cannot_see(run_dag, sandbox, kind):
    state = sandbox.state
    visible = state.seed(kind.name, CONTAINER, 3, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    hidden = state.seed(kind.name, CONTAINER, 2, start=3, created_at="2026-03-02T00:00:00+00:00", spread_seconds=60)
    if kind is PROFILE:  # stored, but not eligible for search
        state.update(kind.name, CONTAINER, hidden[0], _no_text)
        state.update(kind.name, CONTAINER, hidden[1], _no_identity)
    state.index_delay = 3600  # written after this point: stored at once, searchable an hour later
    late = state.seed(kind.name, CONTAINER, 1, start=5, created_at="2026-03-03T00:00:00+00:00")
    not_seen_by_search = (hidden if kind is PROFILE else []) + late

    search_only = run_dag(kind.dag_id, conf(kind, full_sweep=False))

    assert search_only.succeeded, search_only.output[-3000:]
    assert set(state.ats_area(kind.plural).applied) == set(visible + hidden) - set(not_seen_by_search)
    assert search_only.summary["listing"] == "search"

    sweep = run_dag(kind.dag_id, conf(kind))  # a manual run without a window is a full sweep

    assert sweep.succeeded, sweep.output[-3000:]
    assert dict(state.ats_area(kind.plural).applied) == {k: 1 for k in visible + hidden + late}
    assert state.snapshot()["synced"][kind.name] == sorted(visible + hidden + late)
    assert sweep.summary["listing"] == "sweep"
    assert sweep.summary["found"] == len(not_seen_by_search)
    assert sweep.summary["found_only_by_sweep"] == len(not_seen_by_search)
    assert f"{len(not_seen_by_search)} of them only by the full sweep" in sweep.output


def test_accepted_but_untagged_objects_are_never_posted_again_by_a_later_run(run_dag, sandbox, kind):
    state = sandbox.state
    state.honour_idempotency = False  # like most real ATS endpoints: only the ledger can prevent a duplicate
    first = state.seed(kind.name, CONTAINER, 6, created_at="2026-03-01T00:00:00+00:00", spread_seconds=60)
    untagged = first[:4]
    for key in untagged:  # HrFlow refuses the tagging PUT of 4 of them
        state.faults.append(
            Fault(
                path=f"/v1/{kind.name}/indexing",
                method="PUT",
                status=400,
                times=1,
                match_key=key,
                reason="Invalid parameters",
            )
        )

    run1 = run_dag(kind.dag_id, conf(kind, batch_size=3))

    assert not run1.succeeded
    assert dict(state.ats_area(kind.plural).applied) == {k: 1 for k in first}
    assert state.snapshot()["synced"][kind.name] == sorted(first[4:])
    # new objects that sort before the old ones: run 2 cuts its batches differently, so batch keys differ
    earlier = state.seed(kind.name, CONTAINER, 2, start=6, created_at="2026-01-01T00:00:00+00:00", spread_seconds=60)

    run2 = run_dag(kind.dag_id, conf(kind, batch_size=3))

    assert run2.succeeded, run2.output[-3000:]
    assert dict(state.ats_area(kind.plural).applied) == {k: 1 for k in first + earlier}  # nobody twice
    assert state.snapshot()["synced"][kind.name] == sorted(first + earlier)
    assert (run2.summary["found"], run2.summary["resumed"], run2.summary["tagged"]) == (6, 4, 6)
    assert "already accepted by the ATS in an earlier run (ledger); tagging only" in run2.output

    run3 = run_dag(kind.dag_id, conf(kind, batch_size=3))
    assert run3.succeeded and run3.summary["found"] == 0


def test_over_quota_402_fails_fast_and_clearly(run_dag, sandbox):
    sandbox.state.seed("profile", CONTAINER, 3)
    sandbox.state.faults.append(
        Fault(path="/v1/storing/profiles", status=402, times=50, reason="Over plan quota on this endpoint")
    )

    result = run_dag(PROFILE.dag_id, conf(PROFILE))

    assert not result.succeeded
    assert "HTTP 402: Over plan quota on this endpoint" in result.output
    assert "quota for this endpoint is used up" in result.output
    assert sandbox.state.calls["GET /v1/storing/profiles"] == 1  # no retries, no task retries
    assert sandbox.state.ats_area("profiles").requests == 0


def test_html_200_from_a_proxy_is_never_a_silent_empty_sync(run_dag, sandbox):
    keys = sandbox.state.seed("profile", CONTAINER, 3)
    # five answers in a row: the listing task's first try fails after its five attempts; its retry succeeds
    sandbox.state.faults.append(Fault(path="/v1/storing/profiles", status=200, content_type="text/html", times=5))

    result = run_dag(PROFILE.dag_id, conf(PROFILE))

    assert result.succeeded, result.output[-3000:]
    assert "HTTP 200 without 'data'" in result.output and "after 5 attempts" in result.output
    assert dict(sandbox.state.ats_area("profiles").applied) == {k: 1 for k in keys}
    assert result.summary["found"] == 3


def test_tag_put_applied_but_answer_lost_is_not_put_again(run_dag, sandbox, kind):
    keys = sandbox.state.seed(kind.name, CONTAINER, 3)
    sandbox.state.faults.append(
        Fault(path=f"/v1/{kind.name}/indexing", method="PUT", lose_response=True, match_key=keys[1])
    )

    result = run_dag(kind.dag_id, conf(kind))

    assert result.succeeded, result.output[-3000:]
    assert "PUT answer lost" in result.output and "re-reading before trying again" in result.output
    assert sandbox.state.faults_fired == 1
    assert {k: sandbox.state.edits[k] for k in keys} == {k: 1 for k in keys}  # one PUT each, the lost one included
    after = sandbox.state.get(kind.name, CONTAINER, keys[1])
    assert after["tags"].count(SYNC_TAG) == 1
    assert result.summary["tagged"] == 3


def test_edit_landing_between_re_read_and_put_is_overwritten(run_dag, sandbox):
    """
    The window the README names, measured: HrFlow's PUT is unconditional (no ETag), so an edit that lands after
    the re-read and before the PUT is lost. Edits made before the re-read are kept (test above).
    """
    keys = sandbox.state.seed("profile", CONTAINER, 2)
    sandbox.state.edit_after_read.add(keys[0])

    result = run_dag(PROFILE.dag_id, conf(PROFILE))

    assert result.succeeded, result.output[-3000:]
    snapshot = sandbox.state.snapshot()
    assert snapshot["third_party_edits"] == 1
    assert snapshot["clobbered"] == [keys[0]]  # the honest result: this edit is overwritten


def test_hrflow_put_outage_costs_at_most_two_puts_per_profile_and_try_and_the_next_run_catches_up(run_dag, sandbox):
    """HrFlow's tag PUT answers 503 for a whole run of 30 profiles, with the default attempts, breaker and task
    retries (only the retry delay shortened): the breaker counts failed attempts, so each tagging task try stops
    after about one PUT per profile; the run fails; the next run tags everything and posts nothing twice."""
    state = sandbox.state
    keys = state.seed("profile", CONTAINER, 30)
    state.faults.append(Fault(path="/v1/profile/indexing", method="PUT", status=503, times=100_000, retry_after=0))
    env = {"AIRFLOW__HRFLOW__TASK_RETRY_DELAY_SECONDS": "0.1"}

    down = run_dag(PROFILE.dag_id, conf(PROFILE), env=env)

    assert not down.succeeded
    puts = state.calls["PUT /v1/profile/indexing"]
    tries = down.output.count("PUT attempts in a row failed")
    batches = len(set(re.findall(r"map_index=(\d+)", down.output))) or 1
    assert tries >= 1 + 3  # the default task retries (3): each try opened its breaker
    # per tagging task try: one PUT per profile in flight, then the breaker (3 failed attempts) stops the rest
    # before their next attempt; the bound is concurrency + breaker_after per try (docs/destinations.md)
    per_try = puts / tries * batches
    assert per_try <= 2 * len(keys), (puts, tries, batches)
    assert "PUT attempts in a row failed (last: HTTP 503)" in down.output
    assert dict(state.ats_area(PROFILE.plural).applied) == {k: 1 for k in keys}

    state.faults.clear()
    back = run_dag(PROFILE.dag_id, conf(PROFILE), env=env)

    assert back.succeeded, back.output[-3000:]
    assert dict(state.ats_area(PROFILE.plural).applied) == {k: 1 for k in keys}  # nothing posted twice
    assert state.snapshot()["synced"]["profile"] == sorted(keys)
