"""`hookd init`, `hookd check` and `hookd migrate`."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from hookd.cli.options import config_option, database_option, read_config, store_config
from hookd.cli.storeaccess import with_store
from hookd.config.template import write_initial_config
from hookd.core.vocabulary import Forge, values
from hookd.store.base import Store


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--port", type=int, default=8080, show_default=True, help="The port to write.")
@click.option(
    "--forge",
    type=click.Choice(values(Forge)),
    default=Forge.GITHUB.value,
    show_default=True,
    help="The forge the endpoint receives from.",
)
def init(directory: Path, port: int, forge: str) -> None:
    """Write a commented hookd.yaml with a fresh random secret into DIRECTORY."""
    try:
        written = write_initial_config(directory, port, Forge(forge))
    except FileExistsError as exc:
        raise click.ClickException(f"{exc} exists already; not overwriting it.") from exc
    click.echo(f"Wrote {written.config} and a new secret in {written.secret} (mode 0600).")
    click.echo(f"Give the forge this URL: http://127.0.0.1:{port}/hooks/{forge}")
    click.echo(f"and the content of {written.secret} as the webhook's secret.")
    if written.ignore is not None:
        click.echo(f"{written.ignore} keeps the secret and the database out of git.")
    click.echo(f"Next: {serve_command(written.config)}")


def serve_command(config: Path) -> str:
    """The `hookd serve` that finds `config` from the current folder: bare when it is
    `./hookd.yaml`, else with `--config` (relative when under the current folder)."""
    here = Path.cwd().resolve()
    target = config.resolve()
    if target == here / "hookd.yaml":
        return "hookd serve"
    shown = target.relative_to(here) if target.is_relative_to(here) else target
    return f"hookd serve --config {shlex.quote(str(shown))}"


@click.command()
@config_option
def check(config_file: Path | None) -> None:
    """Validate the config and print every problem with file:line."""
    config = read_config(config_file)
    hooks = sum(len(rules) for rules in config.rules.values())
    click.echo(f"{config.path}: OK ({len(config.endpoints)} endpoints, {hooks} hooks)")


@click.command()
@config_option
@database_option
def migrate(config_file: Path | None, database: str | None) -> None:
    """Bring the database's schema up to date (serve and worker also do this at start)."""

    async def version(store: Store) -> int:
        return await store.schema_version()

    found = with_store(store_config(config_file, database), version)
    click.echo(f"The database is at schema version {found}.")
