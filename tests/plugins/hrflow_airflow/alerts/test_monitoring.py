"""Alert messages, the alert target, the notifier's delivery, the summary table and the per-source reports."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from hrflow_airflow.alerts import channels as alert_channels
from hrflow_airflow.alerts import metrics, monitoring
from hrflow_airflow.alerts.channels import alert_target
from hrflow_airflow.alerts.metrics import event_extra, publish_report
from hrflow_airflow.alerts.monitoring import (
    HrFlowAlertNotifier,
    deadline_alert,
    deadline_text,
    failure_text,
    profiles_of_run,
    run_url,
    summary_table,
)
from hrflow_airflow.events.outbox import MessageRecords
from hrflow_airflow.objects import JOB, PROFILE
from hrflow_airflow.settings import setting
from sandbox.connections import alert_connection
from sandbox.state import Fault

ON_CALL = "+33 6 00 00 00 01"


def test_failure_text_is_short_and_names_run_task_counts_failed_keys_and_url():
    failed = [{"key": "k0", "container": "s", "reason": "ATS HTTP 422: field 'email' is invalid: <redacted>"}]
    failed += [{"key": f"k{i}", "container": "s", "reason": "not tagged"} for i in (1, 2, 3)]
    text = failure_text(
        "hrflow_profiles_to_ats",
        "manual__1",
        ["tag_profiles_3", "summary"],
        {"found": 30, "posted": 30, "tagged": 27, "skipped": 0, "failed": 3, "failed_keys": failed},
        "http://airflow/dags/hrflow_profiles_to_ats/runs/manual__1",
    )
    assert text == (
        "[Airflow] hrflow_profiles_to_ats run manual__1 failed at tag_profiles_3, summary. "
        "So far: found 30, posted 30, tagged 27, skipped 0, failed 3. "
        "Failed: k0 (ATS HTTP 422: field 'email' is invalid: <redacted>); k1 (not tagged); k2 (not tagged) and 1 more. "
        "http://airflow/dags/hrflow_profiles_to_ats/runs/manual__1"
    )


def test_failure_text_without_counts_or_task():
    assert failure_text("d", "r", [], None, "u") == "[Airflow] d run r failed at unknown task. u"


def sms_event(key: str) -> dict:
    """Return an SMS run's conf for one profile, as the webhook writes it (keys only)."""
    return {"type": "profile.parsing.success", "origin": None, "profile": {"key": key, "source": {"key": "src"}}}


class Run:
    """A DAG run as a notifier's context holds it: its conf."""

    def __init__(self, conf: dict) -> None:
        self.conf = conf


def test_an_sms_run_alert_names_its_profiles_by_key_only():
    """One profile's run names its key; a burst's run its first three and how many more; nothing else."""
    one = profiles_of_run({"dag_run": Run(sms_event("p0"))})
    burst = {**sms_event("p0"), "batch": [{"id": f"r{i}", **sms_event(f"p{i}")} for i in range(5)]}
    many = profiles_of_run({"dag_run": Run(burst)})
    assert (one, many) == (["p0"], ["p0", "p1", "p2", "p3", "p4"])
    assert failure_text("hrflow_profile_sms", "r", ["send_sms"], None, "u", many) == (
        "[Airflow] hrflow_profile_sms run r failed at send_sms. Profiles: p0, p1, p2 and 2 more. u"
    )


def test_what_is_not_an_hrflow_key_in_a_conf_is_never_named():
    """A run triggered by hand with an e-mail or a name where the key goes names nothing (no candidate data)."""
    conf = {"batch": [sms_event("jane.doe@example.com"), sms_event("Jane Doe"), {"profile": "x"}, "junk"]}
    assert profiles_of_run({"dag_run": Run(conf)}) == []
    assert profiles_of_run({"dag_run": Run({"source_keys": ["s1"]})}) == []  # a sync run's conf holds no profile
    assert profiles_of_run({"dag_run": {"conf": sms_event("p9")}}) == ["p9"]  # a callback's run as JSON
    assert profiles_of_run({}) == []


@pytest.mark.parametrize(("seconds", "shown"), [(90, "90 s"), (120, "2 min"), (3600, "1 h"), (5400, "90 min")])
def test_deadline_text(seconds, shown):
    assert (
        deadline_text("d", "r", timedelta(seconds=seconds), "u")
        == f"[Airflow] d run r is not done {shown} after it was queued (one alert per 10 min for this DAG's late runs). u"  # noqa: E501
    )


def test_run_url_quotes_the_run_id():
    assert (
        run_url("d", "manual__2026-01-01T00:00:00+00:00", "http://h:8080/")
        == "http://h:8080/dags/d/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00"
    )


def test_summary_table_has_a_row_per_source_and_a_total():
    summary = {
        "container": "source",
        "found": 5,
        "posted": 4,
        "tagged": 3,
        "skipped": 1,
        "failed": 1,
        "by_container": {
            "src_b": {"found": 2, "posted": 2, "tagged": 1, "skipped": 1, "failed": 0},
            "src_a": {"found": 3, "posted": 2, "tagged": 2, "skipped": 0, "failed": 1},
        },
    }
    lines = summary_table(summary).splitlines()
    assert lines[0].split() == ["source", "found", "posted", "tagged", "skipped", "failed"]
    assert [line.split() for line in lines[2:4]] == [
        ["src_a", "3", "2", "2", "0", "1"],
        ["src_b", "2", "2", "1", "1", "0"],
    ]
    assert lines[-1].split() == ["TOTAL", "5", "4", "3", "1", "1"]
    assert set(lines[1]) == {"-"} and len({len(line) for line in lines}) == 1


def test_deadline_alert_runs_the_notifier_through_the_executor():
    alert = deadline_alert(timedelta(minutes=5))
    assert type(alert.callback).__name__ == "SyncCallback"
    assert alert.callback.path == "hrflow_airflow.alerts.monitoring.HrFlowAlertNotifier"
    assert alert.callback.kwargs == {"event": "deadline", "deadline_seconds": 300.0}
    assert alert.interval == timedelta(minutes=5)
    assert deadline_alert(timedelta(0)) is None


def test_event_extra_caps_failed_keys():
    counts = {"found": 600, "failed": 600, "failed_keys": [{"key": f"k{i}"} for i in range(600)]}
    extra = event_extra("d", "r", counts)
    assert len(extra["failed_keys"]) == monitoring.MAX_KEYS_IN_EVENT
    assert extra["failed_keys_truncated"] == 100
    assert (extra["found"], extra["posted"], extra["failed"]) == (600, 0, 600)


class _Events:
    def __init__(self):
        self.added = []

    def add(self, asset, extra):
        self.added.append((asset.uri, extra))


@pytest.mark.parametrize(("kind", "tag"), [(PROFILE, "source"), (JOB, "board")])
def test_publish_report_emits_one_event_and_counters_per_container(kind, tag, monkeypatch):
    sent = []
    monkeypatch.setattr(
        metrics.stats, "incr", lambda stat, count=None, rate=None, *, tags=None: sent.append((stat, count, tags))
    )
    summary = {
        "failed_keys": [{"key": "k9", "container": "b", "reason": "ATS HTTP 422"}],
        "by_container": {
            "a": {"found": 2, "posted": 2, "tagged": 2, "skipped": 0, "failed": 0},
            "b": {"found": 1, "posted": 0, "tagged": 0, "skipped": 0, "failed": 1},
        },
    }
    events = _Events()
    publish_report(kind, summary, dag_id="d", run_id="r", events=events)
    assert events.added == [
        (
            f"hrflow://{kind.plural}/a",
            {
                "dag_id": "d",
                "run_id": "r",
                "found": 2,
                "posted": 2,
                "tagged": 2,
                "skipped": 0,
                "failed": 0,
                "failed_keys": [],
            },
        ),
        (
            f"hrflow://{kind.plural}/b",
            {
                "dag_id": "d",
                "run_id": "r",
                "found": 1,
                "posted": 0,
                "tagged": 0,
                "skipped": 0,
                "failed": 1,
                "failed_keys": ["k9"],
            },
        ),
    ]
    assert ("hrflow.objects.found", 2, {"dag_id": "d", tag: "a"}) in sent
    assert ("hrflow.objects.failed", 1, {"dag_id": "d", tag: "b"}) in sent
    assert len(sent) == 2 * len(monitoring.COUNT_FIELDS)


# -- the alert target and delivery, through the sandbox's messaging service -------------------------------------
@pytest.fixture
def alert_conn(sandbox, monkeypatch, ledger_path):
    """The on-call alert through the sandbox's messaging endpoint, which ignores Idempotency-Key as most do."""
    conn = alert_connection(sandbox.url, ON_CALL)
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT", json.dumps(conn))
    return conn


def _failure_context(run_id: str = "manual__1") -> dict:
    from airflow.sdk import DAG

    return {"dag": DAG("hrflow_profiles_to_ats", schedule=None), "run_id": run_id, "reason": "task_failure"}


def test_alert_target_prefers_the_alert_connection(alert_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_HRFLOW_ALERT_PHONE", "+33 6 99 99 99 99")
    assert alert_target() == ("hrflow_alert", ON_CALL)


def test_alert_target_falls_back_to_the_variable(sandbox, monkeypatch):
    monkeypatch.setenv("AIRFLOW_VAR_HRFLOW_ALERT_PHONE", ON_CALL)
    assert alert_target() == ("sms_default", ON_CALL)


def test_alert_connection_without_phone_is_named(alert_conn, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT", json.dumps({**alert_conn, "extra": {}}))
    with pytest.raises(ValueError, match="connection 'hrflow_alert' has no extra 'phone'"):
        alert_target()


def test_notifier_sends_one_alert_per_run_even_if_called_twice(alert_conn, sandbox):
    notifier = HrFlowAlertNotifier()
    notifier(_failure_context())
    notifier(_failure_context())
    bodies = sandbox.state.sms.bodies
    assert len(bodies) == 1 and sandbox.state.sms.requests == 1  # the second call found the durable record
    assert bodies[0]["to"] == ON_CALL
    assert bodies[0]["text"].startswith("[Airflow] hrflow_profiles_to_ats run manual__1 failed at unknown task.")


def test_alert_whose_answer_is_lost_is_reported_by_key_and_never_sent_twice(alert_conn, sandbox, caplog):
    """The gateway sends the alert, the answer is lost: the record holds the intent, so no call sends it again."""
    sandbox.state.faults.append(Fault(path="/sms", lose_response=True))
    with caplog.at_level(logging.ERROR, logger="hrflow_airflow.alerts.monitoring"):
        HrFlowAlertNotifier()(_failure_context())
        HrFlowAlertNotifier()(_failure_context())  # the deadline's or another scheduler's call, or a rerun
    assert len(sandbox.state.sms.bodies) == 1 and sandbox.state.sms.requests == 1
    [key] = {m.split("SMS ")[1].split(" ")[0] for m in caplog.messages if "may have been sent once" in m}
    assert key.startswith("alert-") and MessageRecords("alert").get(key).keys() == {"intent"}


def test_an_alert_goes_even_where_its_record_cannot_be_opened(alert_conn, sandbox, monkeypatch, caplog):
    """An executor callback may be denied the ledger connection: the alert is sent with its key only, and says so."""
    from hrflow_airflow.ledger.db import LedgerHook

    def denied(cls, conn_id):
        raise PermissionError(f"Access denied for connection '{conn_id}' by Execution API")

    monkeypatch.setattr(LedgerHook, "get_connection", classmethod(denied))
    with caplog.at_level(logging.WARNING, logger="hrflow_airflow.alerts.monitoring"):
        HrFlowAlertNotifier()(_failure_context())
    assert len(sandbox.state.sms.bodies) == 1
    assert "HrFlow alert record unavailable here (PermissionError" in caplog.text


def test_alert_refused_with_429_is_sent_by_a_later_call(alert_conn, sandbox):
    """A 429 is documented as not processed: the record lets a later call send it."""
    sandbox.state.faults.append(Fault(path="/sms", status=429, times=setting("max_attempts"), retry_after=0))
    HrFlowAlertNotifier()(_failure_context())
    assert sandbox.state.sms.bodies == []
    HrFlowAlertNotifier()(_failure_context())
    assert len(sandbox.state.sms.bodies) == 1


def test_notifier_without_target_logs_and_does_not_raise(sandbox, monkeypatch, caplog):
    monkeypatch.setattr(alert_channels, "alert_target", lambda: None)
    with caplog.at_level(logging.WARNING, logger="hrflow_airflow.alerts.monitoring"):
        HrFlowAlertNotifier()(_failure_context())
    assert "No alert target is set (connection 'hrflow_alert' or Variable 'hrflow_alert_phone')" in caplog.text
    assert sandbox.state.sms.bodies == []


def test_notifier_survives_a_failing_messaging_service(alert_conn, sandbox, monkeypatch, caplog):
    monkeypatch.setenv("AIRFLOW_CONN_HRFLOW_ALERT", json.dumps({**alert_conn, "password": "wrong"}))
    with caplog.at_level(logging.ERROR, logger="hrflow_airflow.alerts.monitoring"):
        HrFlowAlertNotifier()(_failure_context())
    assert "HrFlow failure alert not sent on channel 'sms'" in caplog.text
    assert "check connection 'hrflow_alert'" in caplog.text
    assert "HTTP 401" in caplog.text


def test_deadline_notifier_reads_the_run_from_json_context(alert_conn, sandbox):
    context = {"dag_run": {"dag_id": "hrflow_profile_sms", "dag_run_id": "webhook__x"}, "deadline": {"id": "1"}}
    HrFlowAlertNotifier(event="deadline", deadline_seconds=120, context=context)(context)
    [body] = sandbox.state.sms.bodies
    assert body["text"].startswith("[Airflow] hrflow_profile_sms run webhook__x is not done 2 min after it was queued")


def test_a_burst_of_late_runs_sends_one_deadline_alert(alert_conn, sandbox, monkeypatch):
    """Three hundred SMS runs of a bulk import, all late: one alert in their 10 minutes, a new one after."""
    clock = [1_800_000_000.0]
    monkeypatch.setattr(monitoring.time, "time", lambda: clock[0])
    for i in range(300):
        context = {"dag_run": {"dag_id": "hrflow_profile_sms", "dag_run_id": f"webhook__{i}"}}
        HrFlowAlertNotifier(event="deadline", deadline_seconds=120, context=context)(context)
    [body] = sandbox.state.sms.bodies
    assert "run webhook__0 is not done" in body["text"] and "one alert per 10 min" in body["text"]
    clock[0] += 600
    context = {"dag_run": {"dag_id": "hrflow_profile_sms", "dag_run_id": "webhook__late"}}
    HrFlowAlertNotifier(event="deadline", deadline_seconds=120, context=context)(context)
    assert len(sandbox.state.sms.bodies) == 2


def test_deadline_notifier_stays_quiet_for_a_run_that_already_failed(alert_conn, sandbox):
    context = {"dag_run": {"dag_id": "hrflow_profile_sms", "dag_run_id": "webhook__x", "state": "failed"}}
    HrFlowAlertNotifier(event="deadline", deadline_seconds=120, context=context)(context)
    assert sandbox.state.sms.bodies == []


def test_no_deadline_under_airflow_dags_test(monkeypatch):
    monkeypatch.setattr("sys.argv", ["airflow", "dags", "test", "hrflow_profiles_to_ats"])
    assert deadline_alert(timedelta(minutes=5)) is None


def test_run_progress_logs_batches_done_objects_and_time_left_and_counts_them(monkeypatch, caplog):

    counted = []
    monkeypatch.setattr(metrics.stats, "incr", lambda name, count=1, tags=None: counted.append((name, count, tags)))

    class TaskInstance:  # the two Task SDK calls the function makes, and its task
        dag_id, run_id, task_id = "hrflow_profiles_to_ats", "manual__1", "batch.tag_profiles"
        start_date = datetime.now(timezone.utc) - timedelta(seconds=100)  # this batch took 100 s
        task = type("Task", (), {"max_active_tis_per_dagrun": 4})()  # [hrflow] parallel_batches on the tag task

        def xcom_pull(self, task_ids, key):
            assert (task_ids, key) == ("search", "stats")
            return {"batches": 200, "found": 1_000_000}

        @staticmethod
        def get_ti_count(dag_id, task_ids, run_ids, states):
            assert (task_ids, run_ids, states) == (["batch.tag_profiles"], ["manual__1"], ["success"])
            return 49  # this batch is the 50th

    started = datetime.now(timezone.utc) - timedelta(minutes=10)
    with caplog.at_level(logging.INFO, logger="hrflow_airflow.alerts.monitoring"):
        metrics.log_run_progress(
            {"ti": TaskInstance(), "dag_run": type("Run", (), {"start_date": started})()},
            stage="tagged",
            count=5000,
            plural="profiles",
        )
    # 150 batches left at 100 s each, 4 at once (the task's max_active_tis_per_dagrun)
    assert (
        "Run progress: 50 of 200 batch(es) tagged (about 250000 of 1000000 profiles), 10m00s since the run "
        "started, about 1h02m left"
    ) in caplog.text
    assert counted == [("hrflow.progress.tagged", 5000, {"dag_id": "hrflow_profiles_to_ats"})]


def test_run_progress_never_fails_the_batch(monkeypatch, caplog):
    monkeypatch.setattr(metrics.stats, "incr", lambda *a, **k: None)

    class Broken:
        dag_id, run_id = "d", "r"

        def xcom_pull(self, **_):
            raise RuntimeError("execution API unreachable")

    metrics.log_run_progress({"ti": Broken(), "dag_run": None}, stage="posted", count=1, plural="jobs")
    assert "Run progress" not in caplog.text


def test_the_notifier_keeps_its_path_from_before_the_layout_by_flow():
    """A deadline stored by an earlier version names ``hrflow_airflow.monitoring.HrFlowAlertNotifier``."""
    import importlib

    assert importlib.import_module("hrflow_airflow.monitoring").HrFlowAlertNotifier is HrFlowAlertNotifier
