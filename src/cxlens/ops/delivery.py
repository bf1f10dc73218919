"""Outbound messages: e-mail through the configured SMTP server and JSON webhooks.

Shared by survey invitations (:mod:`cxlens.collect.triggers`) and alert/escalation
notifications (:mod:`cxlens.act`), so both use one SMTP configuration and one webhook contract
(a JSON POST; any non-2xx answer is an error the caller retries later).
"""

from __future__ import annotations

import json
import smtplib
import urllib.request
from email.message import EmailMessage
from typing import Any

from cxlens.ops.settings import CollectSettings


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def send_email(settings: CollectSettings, to: str, title: str, url: str) -> None:
    """Send one e-mail (plain text and HTML: a title and a link) through the SMTP server."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = settings.mail_from, to, title
    msg.set_content(f"{title}\n\n{url}\n")
    msg.add_alternative(f'<p>{_esc(title)}</p><p><a href="{_esc(url)}">{_esc(url)}</a></p>', subtype="html")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(msg)


def post_json(url: str, payload: dict[str, Any]) -> None:
    """POST ``payload`` as JSON; any non-2xx answer is an error."""
    body = json.dumps(payload, default=str).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        if not 200 <= resp.status < 300:
            raise ValueError(f"webhook answered {resp.status}")
