"""HrFlow.ai for Apache Airflow 3: hooks, mapping, the sync DAG factory and the webhook plugin."""

from __future__ import annotations

__version__ = "0.2.0"


TIMEOUT = {"label": "HTTP timeout (seconds)", "schema": {"type": ["number", "null"], "default": 30}}  # every form's


def get_provider_info() -> dict:
    """Return the provider metadata Airflow reads through the ``apache_airflow_provider`` entry point."""
    from hrflow_airflow.settings import provider_config

    return {
        "package-name": "hrflow-airflow",
        "name": "HrFlow.ai",
        "description": "HrFlow.ai hooks, DAGs and webhook endpoint for Apache Airflow 3.",
        "versions": [__version__],
        "config": provider_config(),
        "hooks": [
            {
                "integration-name": "HrFlow.ai",
                "python-modules": [
                    "hrflow_airflow.hooks.hrflow_api",
                    "hrflow_airflow.hooks.api_key",
                    "hrflow_airflow.hooks.twilio",
                    "hrflow_airflow.destinations.smartrecruiters",
                    "hrflow_airflow.destinations.workable",
                    "hrflow_airflow.destinations.greenhouse",
                    "hrflow_airflow.destinations.lever",
                    "hrflow_airflow.destinations.teamtailor",
                ],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "hrflow_airflow.hooks.twilio.TwilioHook",
                "hook-name": "Twilio (SMS)",
                "connection-type": "twilio",
                "conn-fields": {
                    "from": {
                        "label": "From number (E.164)",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "A Twilio number of this account, e.g. +33756789012. Or set a Messaging Service SID."
                        ),
                    },
                    "messaging_service_sid": {
                        "label": "Messaging Service SID",
                        "schema": {"type": ["string", "null"]},
                        "description": "MG...; used instead of the From number when set.",
                    },
                    "to": {
                        "label": "Recipient number",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "sms_default: the recruiter who gets 'X just applied'; hrflow_alert: the on-call number."
                        ),
                    },
                    "default_region": {
                        "label": "Default region for local numbers",
                        "schema": {"type": ["string", "null"]},
                        "description": "ISO country code (e.g. FR) to read numbers typed as 06 12 34 56 78.",
                    },
                    "account_sid": {
                        "label": "Account SID (when the login is an API key SID)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "API base URL (optional)",
                        "login": "Account SID (or API key SID)",
                        "password": "Auth Token (or API key secret)",
                    },
                    "placeholders": {"host": "https://api.twilio.com", "login": "AC...", "password": "the Auth Token"},
                },
            },
            {
                "hook-class-name": "hrflow_airflow.destinations.smartrecruiters.SmartRecruitersHook",
                "hook-name": "SmartRecruiters (ATS)",
                "connection-type": "smartrecruiters",
                "conn-fields": {
                    "rate_limit": {
                        "label": "Requests per second (empty: 10, the documented limit)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {
                        "host": "API URL (empty: https://api.smartrecruiters.com)",
                        "password": "API key (sent as X-SmartToken)",
                    },
                    "placeholders": {"host": "https://api.smartrecruiters.com", "password": "the SmartToken"},
                },
            },
            {
                "hook-class-name": "hrflow_airflow.destinations.workable.WorkableHook",
                "hook-name": "Workable (ATS)",
                "connection-type": "workable",
                "conn-fields": {
                    "job_shortcode": {
                        "label": "Job shortcode (empty: the talent pool)",
                        "schema": {"type": ["string", "null"]},
                        "description": "Candidates go to this job instead of the account's talent pool.",
                    },
                    "rate_limit": {
                        "label": "Requests per 10 s (empty: 10, account tokens; OAuth tokens: 50)",
                        "schema": {"type": ["integer", "null"], "minimum": 1},
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {
                        "host": "Account URL (https://<subdomain>.workable.com)",
                        "password": "Access token (sent as Bearer)",
                    },
                    "placeholders": {"host": "https://yourcompany.workable.com", "password": "the access token"},
                },
            },
            {
                "hook-class-name": "hrflow_airflow.destinations.greenhouse.GreenhouseHook",
                "hook-name": "Greenhouse Harvest v3 (ATS)",
                "connection-type": "greenhouse",
                "conn-fields": {
                    "user_id": {
                        "label": "Greenhouse user id (required)",
                        "schema": {"type": ["string", "null"]},
                        "description": (
                            "The numeric id of the user writes are attributed to (sent as sub when the token is "
                            "requested); it is in the URL of the user's page in Greenhouse."
                        ),
                    },
                    "auth_url": {
                        "label": "Token URL base (empty: https://auth.greenhouse.io)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {
                        "host": "Harvest URL (empty: https://harvest.greenhouse.io)",
                        "login": "OAuth client id (Harvest V3 OAuth credential)",
                        "password": "OAuth client secret",
                    },
                    "placeholders": {"host": "https://harvest.greenhouse.io", "password": "the client secret"},
                },
            },
            {
                "hook-class-name": "hrflow_airflow.destinations.lever.LeverHook",
                "hook-name": "Lever (ATS)",
                "connection-type": "lever",
                "conn-fields": {
                    "perform_as": {
                        "label": "Perform as: Lever user id (required)",
                        "schema": {"type": ["string", "null"]},
                        "description": "Every opportunity and contact update is made as this Lever user.",
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {
                        "host": "API URL (empty: https://api.lever.co)",
                        "password": "API key (sent as the Basic auth user name)",
                    },
                    "placeholders": {"host": "https://api.lever.co", "password": "the API key"},
                },
            },
            {
                "hook-class-name": "hrflow_airflow.destinations.teamtailor.TeamtailorHook",
                "hook-name": "Teamtailor (ATS)",
                "connection-type": "teamtailor",
                "conn-fields": {
                    "api_version": {
                        "label": "API version (X-Api-Version; empty: 20240404)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login", "extra"],
                    "relabeling": {
                        "host": "API URL (empty: https://api.teamtailor.com, EU; North America: https://api.na.teamtailor.com)",
                        "password": "Admin-scope API key",
                    },
                    "placeholders": {"host": "https://api.teamtailor.com", "password": "the API key"},
                },
            },
            _json_endpoint(
                "hrflow_airflow.hooks.api_key.AtsHook",
                "ATS (JSON endpoint)",
                "hrflow_ats",
                url_label="ATS endpoint URL",
                url_placeholder="https://ats.example.com/api/hrflow/profiles",
                key_label="ATS API key (sent as X-API-KEY)",
            ),
            _json_endpoint(
                "hrflow_airflow.hooks.api_key.MessagingHook",
                "Messaging service (JSON endpoint)",
                "hrflow_messaging",
                url_label="Messaging endpoint URL",
                url_placeholder="https://sms.example.com/send",
                key_label="Messaging API key (sent as X-API-KEY)",
                extra={
                    "phone": {
                        "label": "Recipient phone (alerts: the on-call number)",
                        "schema": {"type": ["string", "null"]},
                        "description": "Only for hrflow_alert: where failure and deadline alerts go.",
                    },
                    "idempotency_key_honoured": {
                        "label": "The endpoint honours Idempotency-Key",
                        "schema": {"type": ["boolean", "null"], "default": False},
                        "description": (
                            "Tick only if the endpoint documents replaying a repeated Idempotency-Key: a send whose "
                            "answer was lost is then retried with the same key. Unticked (most gateways), it is "
                            "never sent twice and the run reports it by key."
                        ),
                    },
                },
            ),
            {
                "hook-class-name": "hrflow_airflow.hooks.hrflow_api.HrFlowHook",
                "hook-name": "HrFlow.ai",
                "connection-type": "hrflow",
                "conn-fields": {
                    "webhook_secret": {
                        "label": "Webhook secret",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": "Signing key of your HrFlow webhooks; verifies POST /hrflow/webhook.",
                    },
                    "webhook_secret_next": {
                        "label": "Next webhook secret (during a rotation)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                        "description": (
                            "Set the new signing key here, then in HrFlow; deliveries signed with either are taken. "
                            "Move it to Webhook secret and clear this once HrFlow uses it (docs/operations.md)."
                        ),
                    },
                    "timeout": TIMEOUT,
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "extra"],
                    "relabeling": {"host": "API base URL", "login": "API user email", "password": "API secret"},
                    "placeholders": {
                        "host": "https://api.hrflow.ai/v1",
                        "login": "you@company.com",
                        "password": "askw_...",
                    },
                },
            },
        ],
    }


def _json_endpoint(
    hook: str,
    name: str,
    conn_type: str,
    *,
    url_label: str,
    url_placeholder: str,
    key_label: str,
    extra: dict | None = None,
) -> dict:
    """Return the UI form of a JSON endpoint guarded by an API key: labelled URL and key, unused fields hidden."""
    return {
        "hook-class-name": hook,
        "hook-name": name,
        "connection-type": conn_type,
        "conn-fields": {
            "timeout": TIMEOUT,
            **(extra or {}),
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "login", "extra"],
            "relabeling": {"host": url_label, "password": key_label},
            "placeholders": {"host": url_placeholder, "password": "the API key"},
        },
    }
