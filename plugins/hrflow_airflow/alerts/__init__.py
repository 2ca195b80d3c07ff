"""
Alerts and run metrics, shared by the three flows.

* :mod:`.monitoring`: the alert notifier (failure, deadline, recovery), deadlines, asset events, the summary table;
* :mod:`.channels`: ``[hrflow] alert_channels``: SMS, Slack and e-mail, each message at most once per channel;
* :mod:`.check`: ``python -m hrflow_airflow.alerts.check``, each channel ready or what is wrong with it;
* :mod:`.metrics`: counters, asset-event extras and progress lines of a run.
"""
