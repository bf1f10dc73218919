"""cxlens.analyse."""
