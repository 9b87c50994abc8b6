"""`hookd jobs`, `hookd logs`, `hookd replay` and `hookd match`."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import orjson

from hookd.cli.inspect import print_table
from hookd.cli.options import (
    config_option,
    database_option,
    json_option,
    store_config,
)
from hookd.cli.storeaccess import with_store
from hookd.config import Config
from hookd.core.delivery import Delivery
from hookd.core.forge_profiles import delivery_action
from hookd.core.vocabulary import FINISHED_JOB_STATUSES, JobStatus, values
from hookd.intake import Plan, plan
from hookd.replay import replay_delivery
from hookd.store.base import Store
from hookd.store.records import JobQuery
from hookd.worker.execute import rebuild_delivery


@click.command()
@click.option("--limit", type=click.IntRange(1, 10000), default=20, show_default=True)
@click.option("--status", type=click.Choice(values(JobStatus)))
@click.option("--hook")
@click.option("--delivery", "delivery_id", help="Only this delivery's jobs (hookd id).")
@json_option
@config_option
@database_option
def jobs(
    limit: int,
    status: str | None,
    hook: str | None,
    delivery_id: str | None,
    as_json: bool,
    config_file: Path | None,
    database: str | None,
) -> None:
    """List jobs, newest first."""
    config = store_config(config_file, database)
    query = JobQuery(limit=limit, status=status, hook=hook, delivery_id=delivery_id)
    found = with_store(config, lambda store: store.list_jobs(query))
    rows = [job.to_json() for job in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No jobs yet.")
        return
    table = [("ID", "HOOK", "STATUS", "ATTEMPTS", "EXIT", "QUEUED", "DELIVERY", "ERROR")]
    for row in rows:
        table.append(
            (
                row["id"],
                row["hook"],
                row["status"],
                f"{row['attempts']}/{row['max_attempts']}",
                "-" if row["exit_code"] is None else str(row["exit_code"]),
                row["queued_at"][:19].replace("T", " "),
                row["delivery_id"],
                row["error"] or "",
            )
        )
    print_table(table)


@click.command()
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing output until the job ends.")
@config_option
@database_option
def logs(job_id: str, follow: bool, config_file: Path | None, database: str | None) -> None:
    """Print a job's output (stdout and stderr, in order)."""
    config = store_config(config_file, database)

    async def work(store: Store) -> str:
        offset = 0
        while True:
            job = await store.get_job(job_id)
            chunk = await store.read_log(job_id, offset)
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                offset += len(chunk)
            if not follow or job.status in FINISHED_JOB_STATUSES:
                return job.status
            await asyncio.sleep(0.2)

    status = with_store(config, work)
    if follow:
        click.echo(f"[job {job_id} {status}]", err=True)


@click.command()
@click.argument("delivery_id")
@json_option
@config_option
@database_option
def replay(delivery_id: str, as_json: bool, config_file: Path | None, database: str | None) -> None:
    """Record a copy of a delivery and run the hooks it matches under today's hookd.yaml."""
    config = store_config(config_file, database)

    recorded = with_store(
        config, lambda store: replay_delivery(store, config, delivery_id, datetime.now(UTC))
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "id": recorded.id,
                    "replay_of": delivery_id,
                    "hooks": list(recorded.hooks),
                    "jobs": list(recorded.job_ids),
                }
            )
        )
        return
    click.echo(
        f"Replayed {delivery_id} as {recorded.id}: hooks {', '.join(recorded.hooks) or 'none'}"
    )
    for job_id in recorded.job_ids:
        click.echo(f"  job {job_id}   (hookd logs {job_id} --follow)")


@click.command()
@click.argument("delivery_id", required=False)
@click.option(
    "--payload",
    "payload_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A payload file to match instead of a stored delivery.",
)
@click.option("--event", help="The event of --payload (hookd's name: push, pull_request, ...).")
@click.option("--endpoint", help="The endpoint whose hooks to try (default: the first).")
@json_option
@config_option
@database_option
def match(
    delivery_id: str | None,
    payload_file: Path | None,
    event: str | None,
    endpoint: str | None,
    as_json: bool,
    config_file: Path | None,
    database: str | None,
) -> None:
    """Dry run: which hooks a delivery would run, and why the others would not."""
    config = store_config(config_file, database)
    if (delivery_id is None) == (payload_file is None):
        raise click.UsageError("give a delivery ID, or --payload FILE with --event")
    if payload_file is not None:
        if not event:
            raise click.UsageError("--payload needs --event")
        delivery = _file_delivery(config, payload_file, event, endpoint)
    else:
        assert delivery_id is not None
        detail = with_store(config, lambda store: store.get_delivery(delivery_id))
        delivery, _ = rebuild_delivery(detail, config.receive_reads(detail.record.endpoint))
    decided = plan(config, delivery)
    if as_json:
        click.echo(
            json.dumps(
                {"hooks": [job.hook for job in decided.jobs], "trace": list(decided.trace)},
                indent=2,
            )
        )
        return
    _print_plan(decided)


def _print_plan(decided: Plan) -> None:
    if not decided.trace:
        click.echo("No hooks on this endpoint consider this event.")
    for entry in decided.trace:
        mark = "would run" if entry["matched"] else "would not run"
        click.echo(f"{entry['hook']}: {mark}: {entry['reason']}")


def _file_delivery(config: Config, path: Path, event: str, endpoint: str | None) -> Delivery:
    name = endpoint or next(iter(config.endpoints))
    if name not in config.endpoints:
        raise click.BadParameter(f"no endpoint {name!r}", param_hint="--endpoint")
    try:
        body = path.read_bytes()
        payload = orjson.loads(body)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise click.ClickException(f"{path} does not hold a JSON object")
    forge = config.endpoints[name].forge
    return Delivery(
        endpoint=name,
        forge=forge,
        event=event,
        forge_event=event,
        action=delivery_action(forge, event, payload),
        delivery_id=None,
        content_type="application/json",
        headers=(),
        body=body,
        payload=payload,
    )
