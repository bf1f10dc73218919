"""Staff page and API for key drivers and competitor benchmarks."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
