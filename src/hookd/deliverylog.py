"""hookd's log lines: readable by default, one JSON object per line with `--log-format json`.
One line per delivery; never a secret, never a body."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

log = logging.getLogger("hookd.delivery")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send hookd's log to stderr in the chosen format, replacing earlier handlers."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    # hookd's lines name no source file, thread or process: skip gathering them on every
    # record (the logging HOWTO's "Optimization" section; the stack walk alone cost a
    # third of the receive path).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger("hookd")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def log_delivery(
    *,
    endpoint: str,
    event: str | None,
    delivery: str | None,
    id: str | None,
    outcome: str,
    status: int,
    hooks: Sequence[str],
    duration_ms: float,
    reason: str | None = None,
) -> None:
    """One line for one delivery: endpoint, event, delivery id, outcome, hooks, duration.
    Written out field by field: it runs for every delivery, on the event loop."""
    if not log.isEnabledFor(logging.INFO):
        return
    line = (
        f"delivery endpoint={_text(endpoint)} event={_text(event)} "
        f"delivery={_text(delivery)} id={_text(id)} outcome={_text(outcome)} status={status} "
        f"hooks={_text(','.join(hooks) or '-')} duration_ms={duration_ms}"
    )
    if reason:
        line += f" reason={_text(reason)}"
    fields = {
        "endpoint": endpoint, "event": event, "delivery": delivery, "id": id,
        "outcome": outcome, "status": status, "hooks": list(hooks), "duration_ms": duration_ms,
        "reason": reason,
    }  # fmt: skip
    log.info(line, extra={"fields": fields})


def _text(value: Any) -> str:
    text = "-" if value is None else str(value)
    if not text or " " in text or '"' in text or "=" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
