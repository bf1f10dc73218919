"""Typed settings, read from the environment (``CXLENS_*``) through :func:`get_settings`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Engine = Literal["duckdb", "spark"]


class Settings(BaseSettings):
    """cxlens settings. Every field can be set with an environment variable ``CXLENS_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CXLENS_", extra="ignore")

    data_dir: Path = Field(
        default=Path("cxlens-data"),
        description="Directory holding the store (catalogue and warehouse by default) and exports.",
    )
    catalog_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the table catalogue; empty means SQLite in the data directory "
        "(PostgreSQL for several hosts: postgresql+psycopg://user:pass@host/db).",
    )
    warehouse: str | None = Field(
        default=None,
        description="Directory of the tables' data and metadata files; empty means <data_dir>/warehouse "
        "(on several hosts: a path every host and Spark executor mounts).",
    )
    engine: Engine = Field(default="duckdb", description="Analytics engine: duckdb or spark.")
    journey_map: Path | None = Field(
        default=None, description="Journey map YAML file; empty means the retail default."
    )
    duckdb_memory_limit: str = Field(
        default="4GB", description="DuckDB memory limit; larger work spills to disk."
    )
    duckdb_threads: int | None = Field(default=None, description="DuckDB threads (default: all cores).")
    spark_master: str = Field(
        default="local[2]",
        description="Spark master URL for --engine spark (spark://host:7077, yarn, k8s://...).",
    )
    spark_executor_memory: str = Field(default="2g", description="Memory of each Spark executor.")
    spark_driver_memory: str = Field(default="2g", description="Memory of the Spark driver (this process).")
    read_only: bool = Field(
        default=False,
        description="Open the store read-only: commands that only read work, writes stop with a clear "
        "error (automatic when the data directory is not writable).",
    )
    currency: str = Field(
        default="USD",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the currency money is shown in (revenue at risk, customer "
        "value), formatted for the reader's language.",
    )
    redact_pii: bool = Field(
        default=False,
        description="Redact e-mails, phone and card numbers and cued names in feedback text on load.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
