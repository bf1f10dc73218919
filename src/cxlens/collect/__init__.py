"""cxlens.collect."""
