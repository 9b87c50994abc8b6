"""Options shared by several commands, each naming its environment variable."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hookd.config import Config, config_path, load_config
from hookd.process_hardening import harden

F = TypeVar("F", bound=Callable[..., Any])


def config_option(function: F) -> F:
    return click.option(
        "--config",
        "-c",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="The config file [env: HOOKD_CONFIG; default: ./hookd.yaml].",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(
        function
    )


def database_option(function: F) -> F:
    return click.option(
        "--db",
        "database",
        envvar="HOOKD_DATABASE",
        help="Database URL [env: HOOKD_DATABASE; default: server.database of the config].",
    )(function)


def log_format_option(function: F) -> F:
    return click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        envvar="HOOKD_LOG_FORMAT",
        help="Log lines for people or machines [env: HOOKD_LOG_FORMAT].",
    )(function)


def lease_seconds_option(default: float) -> Callable[[F], F]:
    """`--lease-seconds`, defaulting to the worker pool's `default`."""
    return click.option(
        "--lease-seconds",
        type=click.FloatRange(min=1),
        default=default,
        show_default=True,
        envvar="HOOKD_LEASE_SECONDS",
        help="How long a job stays claimed without a heartbeat before another worker may take "
        "it over (the time to recover a job after a crash) [env: HOOKD_LEASE_SECONDS].",
    )


def watch_option(function: F) -> F:
    return click.option(
        "--watch",
        type=click.FloatRange(min=0),
        default=1.0,
        show_default=True,
        envvar="HOOKD_WATCH",
        help="Seconds between looks at the config file and its secret files; a change reloads "
        "the configuration (0: only SIGHUP and `hookd reload` do) [env: HOOKD_WATCH].",
    )(function)


def read_config(config_file: Path | None) -> Config:
    return load_config(config_path(config_file, os.environ))


def harden_process() -> None:
    """Keep hookd's environment and memory from the jobs it runs (see
    `hookd.process_hardening`); say on stderr what could not be done."""
    for problem in harden():
        click.echo(f"warning: {problem}", err=True)


def with_database(config: Config, database: str | None) -> Config:
    """The database every command that opens the store uses: `--db`, else
    `$HOOKD_DATABASE` (click reads it for `--db`), else the config's `server.database`."""
    if database is None:
        return config
    return dataclasses.replace(config, database=database)


def store_config(config_file: Path | None, database: str | None) -> Config:
    """The config of a command that opens the store, with the database `with_database`
    chooses."""
    return with_database(read_config(config_file), database)
