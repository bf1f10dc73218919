"""Single sign-on through the retailer's identity provider (OpenID Connect, authorization code
flow with PKCE).

``GET /login/oidc`` sends the browser to the provider with a fresh ``state``, ``nonce`` and PKCE
verifier kept in a short-lived signed cookie; ``GET /login/oidc/callback`` exchanges the code at
the token endpoint, verifies the ID token's signature against the provider's JWKS (joserfc) and
its issuer, audience, expiry and nonce, and signs in the cxlens user linked to the provider's
subject. A user is linked on their first sign-in when the claim ``CXLENS_OIDC_USERNAME_CLAIM``
(default ``email``) equals their username; people without a cxlens user are refused unless
``CXLENS_OIDC_CREATE_ROLE`` names a role to create them with. Roles and store scopes stay in
cxlens. HTTP calls to the provider use the standard library (no extra client).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from cxlens.ops import OpsStore
from cxlens.ops.auth_models import User
from cxlens.web import auth
from cxlens.web.settings import WebSettings

FLOW_COOKIE = "cxlens_oidc"
FLOW_SECONDS = 600
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class OidcError(ValueError):
    """A sign-in through the provider that cannot be completed (shown to the person)."""


def _get_json(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(
        url, data=body, headers={"Accept": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError) as exc:
        raise OidcError(f"the identity provider did not answer properly ({url}): {exc}") from None


@dataclass
class Provider:
    """The provider's metadata and signing keys (read on first use, keys again on a new ``kid``)."""

    issuer: str
    client_id: str
    client_secret: str
    scopes: str = "openid email profile"
    _meta: dict[str, Any] = field(default_factory=dict)
    _keys: KeySet | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: WebSettings) -> Provider | None:
        """The configured provider, or None when single sign-on is off."""
        if not settings.oidc_issuer or not settings.oidc_client_id:
            return None
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
        return cls(settings.oidc_issuer.rstrip("/"), settings.oidc_client_id, secret, settings.oidc_scopes)

    def meta(self) -> dict[str, Any]:
        """The discovery document (cached)."""
        with self._lock:
            if not self._meta:
                meta = _get_json(f"{self.issuer}/.well-known/openid-configuration")
                if meta.get("issuer", "").rstrip("/") != self.issuer:
                    raise OidcError("the provider's discovery document names another issuer")
                self._meta = meta
            return self._meta

    def keys(self, refresh: bool = False) -> KeySet:
        """The provider's signing keys (JWKS)."""
        with self._lock:
            if self._keys is None or refresh:
                self._keys = KeySet.import_key_set(_get_json(self._meta["jwks_uri"]))
            return self._keys

    def authorize_url(self, redirect_uri: str, flow: dict[str, str]) -> str:
        """Where to send the browser, for the flow's state, nonce and PKCE verifier."""
        challenge = base64.urlsafe_b64encode(hashlib.sha256(flow["verifier"].encode()).digest())
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": flow["state"],
            "nonce": flow["nonce"],
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        }
        return f"{self.meta()['authorization_endpoint']}?{urllib.parse.urlencode(params)}"

    def claims(self, code: str, redirect_uri: str, flow: dict[str, str]) -> dict[str, Any]:
        """Exchange the code and return the verified ID token's claims."""
        meta = self.meta()
        tokens = _get_json(
            meta["token_endpoint"],
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "code_verifier": flow["verifier"],
            },
        )
        id_token = tokens.get("id_token") if isinstance(tokens, dict) else None
        if not isinstance(id_token, str):
            raise OidcError("the identity provider sent no ID token")
        try:
            try:
                token = jwt.decode(id_token, self.keys(), algorithms=ALGORITHMS)
            except (ValueError, JoseError):  # a rotated key: read the JWKS again once
                token = jwt.decode(id_token, self.keys(refresh=True), algorithms=ALGORITHMS)
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": meta["issuer"]},
                aud={"essential": True, "value": self.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": flow["nonce"]},
                leeway=60,
            ).validate(token.claims)
        except (ValueError, JoseError) as exc:
            raise OidcError(f"the ID token is not valid: {exc}") from None
        claims = dict(token.claims)
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != self.client_id:
            raise OidcError("the ID token was issued to another client")
        return claims


def new_flow(next_path: str) -> dict[str, Any]:
    """A fresh state, nonce and PKCE verifier for one sign-in, and where to go afterwards."""
    return {
        "state": secrets.token_urlsafe(24),
        "nonce": secrets.token_urlsafe(24),
        "verifier": secrets.token_urlsafe(48),
        "next": auth.safe_next(next_path),
        "exp": time.time() + FLOW_SECONDS,
    }


def user_for(ops: OpsStore, settings: WebSettings, claims: dict[str, Any]) -> User:
    """The cxlens user for verified claims: linked by subject, else by the username claim (and
    linked now), else created with ``CXLENS_OIDC_CREATE_ROLE``; audited."""
    subject = f"{claims['iss']}|{claims['sub']}"[:512]
    name = claims.get(settings.oidc_username_claim)
    if settings.oidc_username_claim == "email" and claims.get("email_verified") is False:
        name = None
    with ops.session() as s:
        user = s.scalar(select(User).where(User.oidc_subject == subject))
        if user is None and isinstance(name, str) and name:
            user = s.scalar(select(User).where(User.username == name, User.oidc_subject.is_(None)))
            if user is not None:
                user.oidc_subject = subject
                ops.audit(s, "link", "user", user.username, actor=user.username, subject=subject)
    if user is None:
        role = settings.oidc_create_role
        if not role or not isinstance(name, str) or not name:
            raise OidcError(
                f"there is no cxlens user for {auth.safe_name(str(name or claims['sub']))}; "
                "ask an admin to create one"
            )
        try:
            user = auth.create_user(ops, name, None, role, [], actor="oidc", oidc_subject=subject)
        except auth.AuthError as exc:
            raise OidcError(str(exc)) from None
    if not user.active:
        raise OidcError("this user is disabled")
    return user
