"""Staff pages and API for alerts, cases and action plans."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
