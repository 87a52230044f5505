"""Run directories: the one schema of ``config.toml`` and ``summary.json`` that every producer writes and every
reader reads (:mod:`rlcredit.runs.schema`)."""

from rlcredit.runs.schema import (
    SCHEMA_VERSION,
    RunConfig,
    RunSchemaError,
    RunSummary,
    read_config,
    read_summary,
    write_config,
    write_summary,
)

__all__ = [
    "SCHEMA_VERSION",
    "RunConfig",
    "RunSchemaError",
    "RunSummary",
    "read_config",
    "read_summary",
    "write_config",
    "write_summary",
]
