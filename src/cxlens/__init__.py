"""cxlens: open customer experience management for retailers.

Map the journey, collect experience data, analyse it, act on it. The library entry point is
:class:`Workspace`, which owns a data directory and its analytics engines.
"""

from cxlens.journey.map import JourneyMap, load_journey_map
from cxlens.storage.workspace import Workspace

__all__ = ["JourneyMap", "Workspace", "load_journey_map"]
__version__ = "0.1.0"
