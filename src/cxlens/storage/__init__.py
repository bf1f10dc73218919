"""cxlens.storage."""
