"""cxlens.report."""
