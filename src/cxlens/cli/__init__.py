"""cxlens.cli."""
