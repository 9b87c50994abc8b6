"""`hookd prune --older-than 30d`: delete old deliveries with their jobs and logs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from hookd.cli.options import config_option, database_option, json_option, store_config
from hookd.cli.storeaccess import with_store
from hookd.core.units import parse_duration
from hookd.retention import prune_older_than
from hookd.store.records import iso


def _age(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seconds <= 0:
        raise click.BadParameter("must be longer than nothing, e.g. 30d")
    try:
        datetime.now(UTC) - timedelta(seconds=seconds)
    except OverflowError as exc:
        raise click.BadParameter(f"{value} reaches back before the calendar starts") from exc
    return seconds


@click.command()
@click.option(
    "--older-than",
    "age",
    required=True,
    callback=_age,
    metavar="AGE",
    help="Delete what was received longer ago than this: 30d, 12h, 90m.",
)
@json_option
@config_option
@database_option
def prune(age: float, as_json: bool, config_file: Path | None, database: str | None) -> None:
    """Delete deliveries older than AGE, with their jobs and logs. Deliveries whose jobs
    are still queued or running are kept."""
    config = store_config(config_file, database)
    removed, before = with_store(
        config, lambda store: prune_older_than(store, age, datetime.now(UTC))
    )
    if as_json:
        click.echo(json.dumps({"pruned": removed, "before": iso(before)}))
        return
    click.echo(f"Pruned {removed} deliveries received before {iso(before)}.")
