"""Logging and progress: rich on a terminal, plain or JSON structured lines otherwise (`--log-format`)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER_NAME = "release_custodian"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        return json.dumps(payload, default=str)


def configure(log_format: str = "text", verbose: bool = False) -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False
    # azure-identity logs each failed token request as a multi-line WARNING on the root logger (plain
    # text, even with --log-format json); the run's COLLECT findings carry the credential and Entra's reason
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if verbose else logging.ERROR)
    return logger


def is_interactive(log_format: str) -> bool:
    return log_format == "text" and sys.stderr.isatty()
