"""The HrFlow page's HTML pieces, from the rows the queries return."""

from __future__ import annotations

from hrflow_airflow.ui.pages import schedule_cards

DAGS = {"hrflow_profiles_to_ats": {"conn_id": "ats_default", "next_run": "2026-12-07T13:00:00+00:00"}}


def last_run(per_container: dict) -> dict:
    """Return a last-run row as ``queries.last_runs`` gives it."""
    return {
        "run_id": "manual__1",
        "state": "failed",
        "ended_at": "2026-12-07T12:00:00+00:00",
        "per_container": per_container,
    }


def test_the_last_run_card_shows_what_was_pending_per_source():
    html = schedule_cards(DAGS, {"hrflow_profiles_to_ats": last_run({"src-a": {"pending": 3}})}, "http://af")
    assert "pending at its end: src-a: 3" in html and "next run: 2026-12-07T13:00:00+00:00" in html


def test_a_run_that_ended_before_its_summary_is_not_shown_as_nothing_pending():
    html = schedule_cards(DAGS, {"hrflow_profiles_to_ats": last_run({})}, "http://af")
    assert "pending at its end" not in html
    assert "not counted: the run ended before its summary" in html and ">failed<" in html
