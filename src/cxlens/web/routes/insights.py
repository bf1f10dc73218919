"""Staff pages and API for journeys, the voice of the customer and customers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
