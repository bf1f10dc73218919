"""Typed settings of the web app (``CXLENS_*`` variables), extending the collection settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

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
    api_token: str | None = Field(
        default=None, description="Bearer token for the survey-management API (empty: API disabled)."
    )


def get_web_settings() -> WebSettings:
    """Return the web settings from the environment (read on each call, so tests can change it)."""
    return WebSettings()
