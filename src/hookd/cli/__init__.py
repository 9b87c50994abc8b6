"""The `hookd` command. Thin over the parts; errors become exit codes here and only here:
0 success, 1 failure, 2 bad usage."""

from __future__ import annotations

import importlib
import sys

import click

from hookd.errors import ConfigError, HookdError, NotFound

# Each command's module is imported only when that command runs: `hookd logs` should not
# pay for the web server, the relay or the ngrok SDK.
COMMANDS = {
    "init": "hookd.cli.setup:init",
    "check": "hookd.cli.setup:check",
    "serve": "hookd.cli.serve:serve",
    "reload": "hookd.cli.reload:reload",
    "worker": "hookd.cli.worker:worker",
    "migrate": "hookd.cli.setup:migrate",
    "send": "hookd.cli.send:send",
    "deliveries": "hookd.cli.inspect:deliveries",
    "show": "hookd.cli.inspect:show",
    "replay": "hookd.cli.jobs:replay",
    "match": "hookd.cli.jobs:match",
    "jobs": "hookd.cli.jobs:jobs",
    "logs": "hookd.cli.jobs:logs",
    "prune": "hookd.cli.prune:prune",
    "catch-up": "hookd.cli.catch_up:catch_up_command",
    "relay": "hookd.cli.relay:relay",
    "forward": "hookd.cli.relay:forward",
    "github": "hookd.cli.relay:github",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (click's documented pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="hookd")
def cli() -> None:
    """hookd: receive, verify and record Git forge webhooks, and run what hookd.yaml says."""


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
