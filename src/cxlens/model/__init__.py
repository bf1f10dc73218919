"""cxlens.model."""
