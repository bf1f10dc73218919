"""Typed settings of the web app (``CXLENS_*`` variables), extending the collection settings."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, SecretStr

from cxlens.ops.settings import CollectSettings


class WebSettings(CollectSettings):
    """Web server settings. Every field is an environment variable ``CXLENS_<NAME>``."""

    host: str = Field(default="127.0.0.1", description="Address `cxlens collect serve` listens on.")
    port: int = Field(default=8000, description="Port `cxlens collect serve` listens on.")
    rate_limit: int = Field(
        default=60, description="Survey form and JSON-response submissions per client address per minute."
    )
    events_rate_limit: int = Field(
        default=600, description="Event batches per event source (write key) per minute."
    )
    login_rate_limit: int = Field(default=30, description="Sign-in attempts per client address per minute.")
    login_free_failures: int = Field(
        default=5,
        description="Failed sign-ins a username may have before each further attempt must wait "
        "(30 s, doubling up to 15 minutes, from any address).",
    )
    qr_rate_limit: int = Field(default=120, description="QR images per client address per minute.")
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "header names the client (empty: the header is ignored and the socket peer is the client).",
    )
    allowed_hosts: str = Field(
        default="",
        description="Comma-separated host names public links may be built from when CXLENS_PUBLIC_URL "
        "is unset (localhost and loopback addresses are always allowed).",
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
        description="Alert rules YAML (docs/act.md), used while no version is stored in the web "
        "editor or by `cxlens act rules import`. With it, a routing file or a stored version the "
        "server runs the alert rules and the case SLA sweep periodically.",
    )
    routing_file: Path | None = Field(
        default=None,
        description="Owner routing, escalation and SLA hours YAML (docs/act.md), used while no "
        "version is stored.",
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
    workers: int = Field(
        default=1,
        ge=1,
        description="Web worker processes (`cxlens serve --workers`); with more than one, one of them "
        "runs the exports and periodic jobs (SQLite or PostgreSQL operational store).",
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

    oidc_issuer: str | None = Field(
        default=None,
        description="OpenID Connect issuer URL of the retailer's identity provider (empty: no "
        "single sign-on). Its /.well-known/openid-configuration is read on first use.",
    )
    oidc_client_id: str | None = Field(default=None, description="OIDC client id of cxlens.")
    oidc_client_secret: SecretStr | None = Field(default=None, description="OIDC client secret.")
    oidc_scopes: str = Field(default="openid email profile", description="OIDC scopes asked for.")
    oidc_username_claim: str = Field(
        default="email",
        description="ID-token claim matched against cxlens usernames on a user's first sign-in.",
    )
    oidc_create_role: str | None = Field(
        default=None,
        description="Role given to people the provider signs in who have no cxlens user yet (empty: "
        "they are refused until an admin creates their user; store managers cannot be created so).",
    )

    def proxy_networks(self) -> list[IPv4Network | IPv6Network]:
        """The trusted proxies as networks."""
        return [ip_network(p.strip(), strict=False) for p in self.trusted_proxies.split(",") if p.strip()]

    def host_names(self) -> set[str]:
        """The allowed host names, lower case."""
        return {h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()}


def get_web_settings() -> WebSettings:
    """Return the web settings from the environment (read on each call, so tests can change it)."""
    return WebSettings()
