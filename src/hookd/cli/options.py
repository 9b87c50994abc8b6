"""Options shared by several commands, each naming its environment variable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from hookd.config import Config, config_path, load_config

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


def read_config(config_file: Path | None) -> Config:
    return load_config(config_path(config_file, os.environ))
