"""cxlens: open customer experience management for retailers.

Map the journey, collect experience data, analyse it, act on it. The library entry point is
:class:`Workspace`, which owns a data directory and its analytics engines.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cxlens.journey.map import JourneyMap, load_journey_map
    from cxlens.storage.workspace import Workspace

__all__ = ["JourneyMap", "Workspace", "load_journey_map"]
__version__ = "0.1.0"

#: Where each public name lives: imported on first use, so that ``import cxlens.cli.main`` (and
#: with it ``cxlens --help``) does not pay for the storage engines (docs/ARCHITECTURE.md).
_LAZY = {
    "JourneyMap": "cxlens.journey.map",
    "load_journey_map": "cxlens.journey.map",
    "Workspace": "cxlens.storage.workspace",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cxlens' has no attribute {name!r}")
