"""The `hookd` command. Thin over the parts; errors become exit codes here and only here:
0 success, 1 failure, 2 bad usage."""

from __future__ import annotations

import sys

import click

from hookd.cli.inspect import deliveries, show
from hookd.cli.jobs import jobs, logs, match, replay
from hookd.cli.send import send
from hookd.cli.serve import serve
from hookd.cli.setup import check, init, migrate
from hookd.errors import ConfigError, HookdError, NotFound


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="hookd")
def cli() -> None:
    """hookd: receive, verify and record Git forge webhooks, and run what hookd.yaml says."""


for command in (init, check, serve, migrate, send, deliveries, show, replay, match, jobs, logs):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        sys.exit(1)
    except NotFound as exc:
        click.echo(f"hookd: {exc}", err=True)
        sys.exit(1)
    except HookdError as exc:
        click.echo(f"hookd: {exc}", err=True)
        sys.exit(1)
