"""`hookd reload`: ask a running `hookd serve` to load its config file again
(`POST /api/reload`) and print what it did."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
import httpx

from hookd.cli.options import config_option
from hookd.config import config_path
from hookd.config.yamlsource import read_yaml


@click.command()
@config_option
@click.option(
    "--url",
    envvar="HOOKD_URL",
    help="The server's base URL [env: HOOKD_URL; default: server.host and server.port of "
    "the config, on this machine].",
)
def reload(config_file: Path | None, url: str | None) -> None:
    """Reload the configuration of a running server. Prints `applied`, `unchanged` or
    `failed` with the configuration in force; on failure, each problem, and exits 1. The
    token is $HOOKD_TOKEN, else server.token of the config."""
    server = _server_settings(config_path(config_file, os.environ))
    token = os.environ.get("HOOKD_TOKEN") or _text(server.get("token"))
    host, port = _text(server.get("host")) or "127.0.0.1", server.get("port", 8080)
    base = (url or _local_base(host, port)).rstrip("/")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.post(f"{base}/api/reload", headers=headers, timeout=60)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach hookd at {base}: {exc}") from exc
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code not in (200, 422) or "outcome" not in answer:
        said = answer.get("error") if isinstance(answer, dict) else None
        raise click.ClickException(
            f"{base}/api/reload answered {response.status_code}: {said or response.text[:200]}"
        )
    outcome, version = answer["outcome"], answer["config"]
    if outcome == "applied":
        click.echo(f"applied: configuration {version} in force (was {answer['previous']})")
    elif outcome == "unchanged":
        click.echo(f"unchanged: configuration {version} stays in force")
    else:
        for problem in answer["problems"]:
            click.echo(problem, err=True)
        click.echo(f"failed: configuration {version} stays in force", err=True)
        sys.exit(1)


def _server_settings(path: Path) -> dict[str, Any]:
    """The file's `server` mapping as written (`${VAR}`s filled in), without validating the
    rest: a file saved with a mistake still says where the server is and its token, and
    the server's answer lists the mistakes."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from exc
    data = read_yaml(text, str(path), os.environ).data
    server = data.get("server") if isinstance(data, dict) else None
    return server if isinstance(server, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _local_base(host: str, port: object) -> str:
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a wildcard bind is reached on loopback
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"
