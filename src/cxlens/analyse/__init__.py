"""cxlens.analyse: step 3 of CX management, analytics over Ibis tables (metrics in :mod:`.metrics`)."""
