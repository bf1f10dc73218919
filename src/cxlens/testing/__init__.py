"""cxlens.testing."""
