"""cxlens.journey."""
