"""`hookd deliveries` and `hookd show`: read what the store holds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from hookd.cli.options import config_option, database_option, json_option, store_config
from hookd.cli.storeaccess import with_store
from hookd.config import Config
from hookd.core.delivery import Body
from hookd.core.redaction import redact_payload
from hookd.core.vocabulary import DeliveryStatus, values
from hookd.intake import untraced_reason
from hookd.store.base import Store
from hookd.store.records import (
    DeliveryDetail,
    DeliveryQuery,
    JobQuery,
    JobRecord,
    iso,
)
from hookd.web.api_views import payload_text, redact_headers


@click.command()
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--status", type=click.Choice(values(DeliveryStatus)))
@click.option("--endpoint")
@click.option("--event")
@click.option("--hook", help="Only deliveries that matched this hook.")
@click.option("--repository", help="owner/name")
@json_option
@config_option
@database_option
def deliveries(
    limit: int,
    status: str | None,
    endpoint: str | None,
    event: str | None,
    hook: str | None,
    repository: str | None,
    as_json: bool,
    config_file: Path | None,
    database: str | None,
) -> None:
    """List recorded deliveries, newest first."""
    config = store_config(config_file, database)
    query = DeliveryQuery(
        limit=limit, status=status, endpoint=endpoint, event=event, hook=hook, repository=repository
    )

    async def work(store: Store) -> list[dict[str, Any]]:
        return [record.to_json() for record in await store.list_deliveries(query)]

    rows = with_store(config, work)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No deliveries yet. Try: hookd send push")
        return
    table = [("ID", "RECEIVED", "ENDPOINT", "EVENT", "REPOSITORY", "STATUS", "HOOKS")]
    for row in rows:
        event_name = row["event"] or "-"
        if row["action"]:
            event_name += f".{row['action']}"
        status_text = (
            row["status"]
            if row["status"] != DeliveryStatus.REJECTED
            else f"rejected: {row['reason']}"
        )
        table.append(
            (
                row["id"],
                row["received_at"][:19].replace("T", " "),
                row["endpoint"] or "-",
                event_name,
                row["repository"] or "-",
                status_text,
                ",".join(row["hooks"]) or "-",
            )
        )
    print_table(table)


def print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@click.command()
@click.argument("delivery_id")
@json_option
@config_option
@database_option
def show(delivery_id: str, as_json: bool, config_file: Path | None, database: str | None) -> None:
    """Show one delivery: headers, payload, rule trace and jobs."""
    config = store_config(config_file, database)

    async def work(store: Store) -> tuple[DeliveryDetail, list[JobRecord]]:
        detail = await store.get_delivery(delivery_id)
        return detail, await store.list_jobs(JobQuery(delivery_id=delivery_id, limit=1000))

    detail, jobs = with_store(config, work)
    if as_json:
        click.echo(
            json.dumps(
                {**detail_json(config, detail), "job_records": [job.to_json() for job in jobs]},
                indent=2,
            )
        )
        return
    record = detail.record
    click.echo(f"Delivery {record.id} ({record.status})")
    for label, value in (
        ("forge delivery", record.delivery),
        ("endpoint", record.endpoint),
        ("event", detail.forge_event or record.event),
        ("action", record.action),
        ("repository", record.repository),
        ("received", iso(record.received_at)),
        ("from", record.remote_addr),
        ("size", f"{record.size} bytes"),
        ("reason", record.reason),
        ("duplicate of", record.duplicate_of),
        ("replay of", record.replay_of),
        ("decided by configuration", record.config),
    ):
        if value:
            click.echo(f"  {label}: {value}")
    if detail.headers:
        click.echo("\nHeaders:")
        for name, value in redact_headers(config, record.endpoint, detail.headers):
            click.echo(f"  {name}: {value}")
    click.echo("\nRules:")
    if not detail.trace:
        reason = untraced_reason(config, record.endpoint, record.event, record.status)
        click.echo(f"  (none: {reason})")
    for entry in detail.trace:
        mark = "matched" if entry["matched"] else "skipped"
        click.echo(f"  {entry['hook']}: {mark}: {entry['reason']}")
    if jobs:
        click.echo("\nJobs:")
        for job in reversed(jobs):
            outcome = f"exit {job.exit_code}" if job.exit_code is not None else ""
            click.echo(
                f"  {job.id}  {job.hook}  {job.status}  attempt {job.attempts}/"
                f"{job.max_attempts}  {outcome}".rstrip()
            )
            for line in filter(None, (job.error, job.result)):
                click.echo(f"      {line}")
    if detail.body:
        click.echo("\nPayload:")
        click.echo(_pretty(detail.content_type, detail.body))


def _pretty(content_type: str | None, body: Body) -> str:
    """The payload indented when it is JSON, else as text; secrets redacted either way."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return payload_text(content_type, body) or ""
    return json.dumps(redact_payload(parsed), indent=2, ensure_ascii=False)


def detail_json(config: Config, detail: DeliveryDetail) -> dict[str, Any]:
    """`hookd show --json`: the delivery as the API shows it (secrets redacted)."""
    result = detail.record.to_json()
    result["forge_event"] = detail.forge_event
    result["content_type"] = detail.content_type
    headers = redact_headers(config, detail.record.endpoint, detail.headers)
    result["headers"] = [list(pair) for pair in headers]
    result["trace"] = list(detail.trace)
    result["payload"] = payload_text(detail.content_type, detail.body)
    return result
