"""hookd's log lines: readable by default, one JSON object per line with `--log-format json`.
One line per delivery; never a secret, never a body. Rejected requests, which anyone can
send, get at most one line a second per endpoint and reason, and then one saying how many
more there were (`RejectionLog`); what their headers claimed is cut short."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
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
    event, delivery = cut(event), cut(delivery)
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


CLAIMED_CHARS = 200
"""How much of a header's value a log line or a rejected request's record keeps."""


def cut(value: str | None) -> str | None:
    """`value` cut to CLAIMED_CHARS, with an ellipsis where it was cut."""
    if value is None or len(value) <= CLAIMED_CHARS:
        return value
    return value[: CLAIMED_CHARS - 1] + "\u2026"


class RejectionLog:
    """Decides which rejected requests (and replayed bodies) get a log line: the first of
    each `period` per (endpoint, reason); the others are counted, and once the period is
    over one line says how many. Keys are config endpoints and a fixed set of reasons, so
    memory is bounded. Use on one event loop."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self._open: dict[tuple[str, str], list[float]] = {}  # key -> [period ends, held back]

    def admit(self, endpoint: str, reason: str) -> bool:
        """Whether to log this rejected request; if not, it is counted for the summary."""
        key, now = (endpoint, reason), time.monotonic()
        window = self._open.get(key)
        if window is None or now >= window[0]:
            self._open[key] = [now + self.period, 0]
            return True
        window[1] += 1
        if window[1] == 1:
            asyncio.get_running_loop().call_later(window[0] - now, self._summarise, key)
        return False

    def _summarise(self, key: tuple[str, str]) -> None:
        window = self._open.pop(key, None)
        if window is None or not window[1] or not log.isEnabledFor(logging.INFO):
            return
        endpoint, reason = key
        held = int(window[1])
        fields = {"endpoint": endpoint, "reason": reason, "more": held, "seconds": self.period}
        line = (
            f"requests endpoint={_text(endpoint)} reason={reason} more={held}: {held} more "
            f"such requests in the last {self.period:g}s, not logged one by one"
        )
        log.info(line, extra={"fields": fields})


def _text(value: Any) -> str:
    text = "-" if value is None else str(value)
    if not text or " " in text or '"' in text or "=" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
