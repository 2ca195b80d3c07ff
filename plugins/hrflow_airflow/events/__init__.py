"""
The event flow: what HrFlow's webhook starts, as it happens.

* :mod:`.signing` — HrFlow's HMAC signature, signed and verified (the sandbox signs with it too);
* :mod:`.app` — the FastAPI app the plugin mounts at ``/hrflow``: health, and ``POST /webhook``;
* :mod:`.memo` — reads reused for a few seconds; :mod:`.airflow_db` — what it reads and writes in Airflow;
* :mod:`.warming` — Airflow's execution API built in a thread as the api-server starts, not on its event loop;
* :mod:`.planning` — each event's SMS run and sync announcement; :mod:`.recording` — the delivery in the inbox;
* :mod:`.inbox` — every delivery recorded, answered at once, drained by a thread of the api-server (a burst's
  new profiles in shared SMS runs);
* :mod:`.realtime` — announced objects hashed, compared with the ledger: one asset event per sync DAG;
* :mod:`.sms` — the ``hrflow_profile_sms`` DAG's event, text, params and task; :mod:`.digest` — a burst's one SMS;
* :mod:`.sms_batch` — a run that carries a burst's profiles, each texted once;
* :mod:`.outbox` — the message record: what each message key sent, for alerts and digests.
"""
