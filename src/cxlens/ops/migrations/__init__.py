"""Alembic migrations of the operational store (run by :func:`cxlens.ops.migrate.upgrade`)."""
