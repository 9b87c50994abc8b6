"""`hookd send`: a correctly signed delivery to a running hookd, like `stripe trigger`."""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx

from hookd.cli.options import config_option, read_config
from hookd.config import Config
from hookd.core.forge_profiles import profile
from hookd.samples import delivery_headers, fresh_sample


@click.command()
@click.argument("event")
@click.option("--action", help="The payload's action, e.g. opened (default: the sample's).")
@click.option(
    "--payload",
    "payload_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Send this file's bytes instead of hookd's sample payload.",
)
@click.option("--endpoint", help="The endpoint to send to (default: the first configured).")
@click.option("--url", help="The URL to send to (default: the endpoint's URL on this machine).")
@config_option
def send(
    event: str,
    action: str | None,
    payload_file: Path | None,
    endpoint: str | None,
    url: str | None,
    config_file: Path | None,
) -> None:
    """Send a signed EVENT delivery (push, pull_request, ping, ...) and print the answer."""
    config = read_config(config_file)
    name = endpoint or next(iter(config.endpoints))
    if name not in config.endpoints:
        raise click.BadParameter(f"no endpoint {name!r} in {config.path}", param_hint="--endpoint")
    spec = config.specs[name]
    delivery_id = str(uuid.uuid4())
    try:
        body = (
            payload_file.read_bytes()
            if payload_file is not None
            else fresh_sample(
                spec.forge, event, action, now=datetime.now(UTC), nonce=secrets.token_hex(8)
            )
        )
        headers = delivery_headers(spec.forge, event, delivery_id=delivery_id)
    except LookupError as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot read {payload_file}: {exc.strerror}") from exc
    if spec.secrets:
        headers.update(profile(spec.forge).sign(spec.secrets[0], body, spec.signature, time.time()))
    target = url or local_url(config, name)
    try:
        response = httpx.post(target, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(
            f"could not reach {target}: {exc}. Is `hookd serve` running?"
        ) from exc
    click.echo(f"POST {target} -> {response.status_code}")
    click.echo(response.text)
    if not response.is_success:
        sys.exit(1)


def local_url(config: Config, name: str) -> str:
    """The URL of endpoint `name` of the hookd this config describes, on this machine."""
    host = config.server.host
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a wildcard bind is reached on loopback
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{config.server.port}{config.endpoint_path(name)}"
