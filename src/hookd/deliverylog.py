"""hookd's log lines: readable by default, one JSON object per line with `--log-format json`.
One line per delivery; never a secret, never a body. Rejected requests, which anyone can
send, get at most one line a second per endpoint and reason, and then one saying how many
more there were (`LogBudget`); what their headers claimed is cut short."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson

log = logging.getLogger("hookd.delivery")

K = TypeVar("K")


class _SecondCache:
    """A moment's text, built once per second and finished with its microseconds: a log
    line is written for every delivery, and formatting the time whole cost a third of one
    (14 of 44 µs)."""

    def __init__(self, render: Callable[[int], str]) -> None:
        self._render = render
        self._second = -1
        self._text = ""

    def prefix(self, created: float) -> tuple[str, float]:
        """The text of `created`'s whole second, and the fraction past it."""
        second = int(created)
        if second != self._second:
            self._second, self._text = second, self._render(second)
        return self._text, created - second


class TextFormatter(logging.Formatter):
    """`time level message`, the time in local time to the millisecond."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")
        self._seconds = _SecondCache(lambda second: time.strftime(_LOCAL, time.localtime(second)))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        text, _ = self._seconds.prefix(record.created)
        return f"{text},{int(record.msecs):03d}"


_LOCAL = "%Y-%m-%d %H:%M:%S"


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._seconds = _SecondCache(
            lambda second: datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        )

    def format(self, record: logging.LogRecord) -> str:
        text, fraction = self._seconds.prefix(record.created)
        micros = round(fraction * 1_000_000)
        if micros >= 1_000_000:  # rounds up into the next second, as datetime's would
            text, micros = datetime.fromtimestamp(record.created, UTC).isoformat()[:19], 0
        line: dict[str, Any] = {
            "time": f"{text}.{micros:06d}+00:00" if micros else f"{text}+00:00",
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


class TickHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes the lines an event loop's callbacks log together, once
    the loop has run them: one write for a batch of deliveries, not one each. Under load a
    line's own write cost more than the rest of it (about 57 of a delivery's µs with 50 in
    flight, measured by bench/receiver_in_process.py). Lines logged outside a running loop
    (another thread, start-up, shutdown) are written at once, after any still held, so the
    stream keeps the order they were logged in. A line waits at most until the loop's next
    iteration."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._held: list[str] = []
        # The loop that will write the held lines; another loop (this one stopped before
        # its turn came) schedules its own write.
        self._writer: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 - logging's own way: report, never raise
            self.handleError(record)
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._held.append(line)
            self._write_held()
            return
        self._held.append(line)
        if self._writer is not loop:
            self._writer = loop
            loop.call_soon(self._write_soon)

    def _write_soon(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._writer = None
            self._write_held()

    def _write_held(self) -> None:
        """Write the held lines (the caller holds the handler's lock)."""
        if not self._held:
            return
        text, self._held = "".join(self._held), []
        try:
            self.stream.write(text)
            self.stream.flush()
        except Exception:  # noqa: BLE001 - a closed or failing stream must not stop hookd
            self.handleError(logging.makeLogRecord({"msg": text}))

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_held()
        super().flush()


def configure_logging(log_format: str = "text", level: int = logging.INFO) -> None:
    """Send hookd's log to stderr in the chosen format, replacing earlier handlers."""
    handler = TickHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
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


class LogBudget(Generic[K]):
    """At most about one line per `period` for each key: the first event of a period is
    logged at once (`admit` answers True), the others are only counted, and once the period
    is over `summarise(key, count)` says how many there were. Keys must come from a bounded
    set (config names, fixed reasons), so memory is bounded. Use on one event loop."""

    def __init__(self, summarise: Callable[[K, int], None], period: float = 1.0) -> None:
        self.period = period
        self._summarise = summarise
        self._open: dict[K, list[float]] = {}  # key -> [period ends, held back]

    def admit(self, key: K) -> bool:
        """Whether to log this event; if not, it is counted for the summary."""
        now = time.monotonic()
        window = self._open.get(key)
        if window is None or now >= window[0]:
            if window is not None:  # its summary, should the timer not have run yet
                self._close(key, window)
            self._open[key] = [now + self.period, 0]
            return True
        window[1] += 1
        if window[1] == 1:
            asyncio.get_running_loop().call_later(window[0] - now, self._close, key, window)
        return False

    def _close(self, key: K, window: list[float]) -> None:
        if self._open.get(key) is window:
            del self._open[key]
        held, window[1] = int(window[1]), 0
        if held:
            self._summarise(key, held)


def rejection_log(period: float = 1.0) -> LogBudget[tuple[str, str]]:
    """The budget of rejected requests' (and replayed bodies') log lines, per (endpoint,
    reason)."""

    def summarise(key: tuple[str, str], held: int) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        endpoint, reason = key
        fields = {"endpoint": endpoint, "reason": reason, "more": held, "seconds": period}
        line = (
            f"requests endpoint={_text(endpoint)} reason={reason} more={held}: {held} more "
            f"such requests in the last {period:g}s, not logged one by one"
        )
        log.info(line, extra={"fields": fields})

    return LogBudget(summarise, period)


def _text(value: Any) -> str:
    text = "-" if value is None else str(value)
    if not text or " " in text or '"' in text or "=" in text:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text
