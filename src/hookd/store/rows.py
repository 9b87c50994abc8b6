"""Rows to records, one mapper per record, by column name, for both backends: a moment is
ISO text in SQLite and a datetime in PostgreSQL, JSON text or already decoded, a boolean
an integer or a bool; each reader below takes either."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from hookd.core.delivery import Body
from hookd.core.vocabulary import DeliveryStatus, JobStatus
from hookd.store.records import (
    DeliveryDetail,
    DeliveryRecord,
    JobProcess,
    JobRecord,
    KeptFiles,
    parse_iso,
)
from hookd.store.steps import Row


def moment(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    return parse_iso(value)


def json(value: Any, empty: Any = ()) -> Any:
    if value is None:
        return empty
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def job_record(row: Row) -> JobRecord:
    return JobRecord(
        id=row["id"], delivery_id=row["delivery_id"], hook=row["hook"],
        status=JobStatus(row["status"]), attempts=row["attempts"],
        max_attempts=row["max_attempts"], exit_code=row["exit_code"], error=row["error"],
        result=row["result"], concurrency_group=row["concurrency_group"],
        queued_at=moment(row["queued_at"]) or datetime.now(UTC),
        run_after=moment(row["run_after"]) or datetime.now(UTC),
        started_at=moment(row["started_at"]), finished_at=moment(row["finished_at"]),
        log_size=row["log_size"], cancel_requested=bool(row["cancel_requested"]),
        ref=row["ref"], paths_filter=row["paths_filter"],
    )  # fmt: skip


def delivery_record(row: Row) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"], delivery=row["delivery"], endpoint=row["endpoint"], forge=row["forge"],
        event=row["event"], action=row["action"], repository=row["repository"],
        received_at=moment(row["received_at"]) or datetime.now(UTC),
        status=DeliveryStatus(row["status"]), reason=row["reason"],
        hooks=tuple(json(row["hooks"])), jobs=tuple(json(row["jobs"])), size=row["size"],
        remote_addr=row["remote_addr"], replay_of=row["replay_of"],
        duplicate_of=row["duplicate_of"], config=row["config"],
    )  # fmt: skip


def delivery_detail(row: Row, body: Body | None) -> DeliveryDetail:
    return DeliveryDetail(
        record=delivery_record(row),
        content_type=row["content_type"],
        headers=tuple(tuple(pair) for pair in json(row["headers"])),
        body=body,
        trace=tuple(json(row["trace"])),
        forge_event=row["forge_event"],
    )


def job_process(row: Row) -> JobProcess:
    return JobProcess(
        attempt=row["attempt"], machine=row["machine"], tag=row["tag"], pid=row["pid"],
        started=row["started"],
    )  # fmt: skip


def kept_files_of(row: Row) -> KeptFiles:
    listed = row["files"]
    files = None if listed is None else tuple(str(name) for name in orjson.loads(listed))
    return KeptFiles(files=files, source=row["source"], reason=row["reason"])
