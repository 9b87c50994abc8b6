"""`hookd catch-up [--since 24h] [--dry-run]`: ask the forges again for the deliveries they
failed to make (see `hookd.catch_up`), once, now. Run it while `hookd serve` is up: the
forge redelivers to the server."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hookd.catch_up.run import Summary, catch_up
from hookd.catch_up.selection import ASKED, HELD
from hookd.cli.options import config_option, database_option, json_option, store_config
from hookd.cli.storeaccess import with_store
from hookd.core.units import parse_duration
from hookd.errors import HookdError
from hookd.store.records import iso


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if seconds <= 0:
        raise click.BadParameter("must be longer than nothing, e.g. 24h")
    return seconds


@click.command("catch-up")
@click.option(
    "--since",
    callback=_since,
    metavar="AGE",
    help="Look this far back (24h, 3d) instead of since each hook's last catch-up; "
    "never beyond what the forge keeps (3 days on GitHub, 7 on GitLab).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be requested; request nothing.")
@json_option
@config_option
@database_option
def catch_up_command(
    since: float | None,
    dry_run: bool,
    as_json: bool,
    config_file: Path | None,
    database: str | None,
) -> None:
    """Ask GitHub and GitLab to redeliver each delivery they failed to make to hookd that
    hookd does not hold, and print each one with why."""
    config = store_config(config_file, database)
    summary = with_store(
        config, lambda store: catch_up(config, store, since=since, dry_run=dry_run)
    )
    if summary is None:
        raise HookdError("another hookd is catching up right now; try again in a minute")
    if as_json:
        click.echo(json.dumps(_as_json(summary)))
        return
    for reason in summary.skipped:
        click.echo(reason, err=True)
    for line in summary.lines:
        if line.verdict not in (HELD, ASKED):
            click.echo(line.text())
    asking = sum(1 for line in summary.lines if line.verdict not in (HELD, ASKED))
    verb = "would request" if dry_run else "requested"
    click.echo(
        f"Looked at {summary.hooks} hook(s): {verb} {asking}; "
        f"{summary.count(HELD)} failed but held, {summary.count(ASKED)} asked for before."
    )


def _as_json(summary: Summary) -> dict[str, object]:
    return {
        "hooks": summary.hooks,
        "skipped": summary.skipped,
        "deliveries": [
            {
                "endpoint": line.endpoint,
                "hook": line.hook,
                "delivery": line.failure.key,
                "forge_id": line.failure.forge_id,
                "event": line.failure.event,
                "failed_at": iso(line.failure.failed_at),
                "failure": line.failure.failure,
                "verdict": line.verdict,
                "outcome": line.outcome,
            }
            for line in summary.lines
        ],
    }
