"""Typed settings of the web app (``CXLENS_*`` variables), extending the collection settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from cxlens.ops.settings import CollectSettings


class WebSettings(CollectSettings):
    """Web server settings. Every field is an environment variable ``CXLENS_<NAME>``."""

    host: str = Field(default="127.0.0.1", description="Address `cxlens collect serve` listens on.")
    port: int = Field(default=8000, description="Port `cxlens collect serve` listens on.")
    rate_limit: int = Field(
        default=60, description="Form submissions and event batches per client address per minute."
    )
    export_interval: float = Field(
        default=1.0, description="Seconds between exports of new responses to the analytics store."
    )
    triggers_file: Path | None = Field(
        default=None, description="Triggers YAML the server runs periodically (empty: none)."
    )
    triggers_every: float = Field(default=300.0, description="Seconds between trigger runs in the server.")
    alert_rules_file: Path | None = Field(
        default=None,
        description="Alert rules YAML (docs/act.md). With it or a routing file the server runs the "
        "alert rules and the case SLA sweep periodically.",
    )
    routing_file: Path | None = Field(
        default=None, description="Owner routing, escalation and SLA hours YAML (docs/act.md)."
    )
    act_every: float = Field(
        default=300.0, description="Seconds between alert runs and SLA sweeps in the server."
    )
    api_token: str | None = Field(
        default=None, description="Bearer token for the survey-management API (empty: API disabled)."
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key that signs staff session cookies (empty: a random key kept in "
        "<data_dir>/cxlens-secret.key). Set the same value on every server behind one address.",
    )
    warm_cache: bool = Field(
        default=True,
        description="Compute the dashboards' common figures at start-up and after each data load, "
        "so first requests are answered from the cache.",
    )
    warm_pages: bool = Field(
        default=True,
        description="After start-up, also compute the journey, voice-of-customer and customer figures "
        "in a background thread (minutes on millions of customers; dashboards answer slower meanwhile).",
    )
    warm_every: float = Field(
        default=30.0, description="Seconds between checks whether new data needs the cache warmed again."
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark session and login cookies Secure (sent over HTTPS only). Keep false for "
        "plain-HTTP localhost; set true behind a TLS-terminating proxy. Cookies of requests that "
        "arrive over HTTPS are Secure either way.",
    )


def get_web_settings() -> WebSettings:
    """Return the web settings from the environment (read on each call, so tests can change it)."""
    return WebSettings()
