"""The log's time stamps, built once a second and finished per line, read as the standard
library writes them: logging's `asctime` for text lines, ISO 8601 UTC for JSON lines."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime

import orjson

from hookd.deliverylog import JsonFormatter, TextFormatter

STANDARD_TEXT = logging.Formatter("%(asctime)s %(levelname)s %(message)s")


def record_at(created: float) -> logging.LogRecord:
    record = logging.LogRecord("hookd.delivery", logging.INFO, "", 0, "delivery", None, None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def moments() -> list[float]:
    chance = random.Random(7)
    spread = [1_733_240_000 + chance.random() * 1e7 for _ in range(5_000)]
    edges = [1_733_240_000.0, 1_733_240_000.9999996, 1_733_240_001.0000004, 1_733_240_000.5]
    return spread + edges


def test_text_lines_carry_the_standard_asctime() -> None:
    formatter = TextFormatter()
    for created in moments():
        record = record_at(created)
        assert formatter.format(record) == STANDARD_TEXT.format(record), created


def test_json_lines_carry_the_iso_time_in_utc() -> None:
    formatter = JsonFormatter()
    for created in moments():
        line = orjson.loads(formatter.format(record_at(created)))
        assert line["time"] == datetime.fromtimestamp(created, UTC).isoformat(), created
