"""The `hookd.yaml` that `hookd init` (and a first `hookd serve`) writes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from hookd.core.forge_profiles import profile
from hookd.core.vocabulary import Forge, values

SECRET_FILE = ".hookd-secret"  # noqa: S105 - a file name, not a secret

TEMPLATE = """\
# hookd's configuration. Reference: the README's "Configuration" section.
# ${{VAR}} and ${{VAR:-default}} are read from the environment.

server:
  host: 127.0.0.1            # loopback only; set server.token before listening wider
  port: {port}
  database: sqlite:///hookd.db
  max_body: 25MB             # GitHub's own cap; larger deliveries get 413

endpoints:
  {endpoint}:{padding}# receives POST http://127.0.0.1:{port}/hooks/{endpoint}
    forge: {endpoint}{forge_padding}# {forges}
    # The webhook secret: paste this file's content into the forge's "Secret" field.
    # It is kept out of this file so hookd.yaml can be shared and committed.
    secret_file: {secret_file}

hooks:
  hello:
    on: push                 # or {{push: {{branches: [main]}}}}, [push, pull_request], "*"
    run: echo "{{{{ hookd.event }}}} to {{{{ hookd.repository }}}} at {{{{ hookd.ref }}}}"
  # deploy:
  #   on:
  #     push:
  #       branches: [main]
  #   run: ./deploy.sh {{{{ hookd.repository }}}} {{{{ hookd.after }}}}
  #   cwd: /srv/site
  #   timeout: 10m
  #   retries: 2
  #   concurrency:
  #     group: deploy-{{{{ hookd.repository }}}}
"""


KEPT_OUT = (SECRET_FILE, "hookd.db", "hookd.db-*")
"""What `hookd init` writes or the first `hookd serve` creates that git must not offer for a
commit: the secret, and the SQLite database the template names with its WAL files."""


@dataclass(frozen=True)
class Written:
    config: Path
    secret: Path
    ignore: Path | None = None
    """The `.gitignore` written or extended, when the folder is in a git work tree."""


def write_initial_config(folder: Path, port: int = 8080, forge: Forge = Forge.GITHUB) -> Written:
    """Write hookd.yaml, with one endpoint for `forge` named after it, and a fresh random
    secret in that forge's shape (mode 0600) into `folder`. Refuses to overwrite an existing
    config."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "hookd.yaml"
    secret = folder / SECRET_FILE
    if config.exists():
        raise FileExistsError(str(config))
    if not secret.exists():
        secret.touch(mode=0o600)
        secret.write_text(profile(forge).new_secret(secrets.token_bytes(32)) + "\n", "ascii")
    text = TEMPLATE.format(
        port=port,
        secret_file=SECRET_FILE,
        endpoint=forge.value,
        padding=" " * max(1, 26 - len(forge.value)),
        forge_padding=" " * max(1, 18 - len(forge.value)),
        forges=" | ".join(values(Forge)),
    )
    config.write_text(text, encoding="utf-8")
    return Written(config=config, secret=secret, ignore=keep_out_of_git(folder))


def in_git_work_tree(folder: Path) -> bool:
    """Whether `folder` is inside a git work tree (a `.git` folder or file above it)."""
    return any((parent / ".git").exists() for parent in (folder, *folder.parents))


def keep_out_of_git(folder: Path) -> Path | None:
    """Add `KEPT_OUT`'s names that are missing to `folder/.gitignore` when `folder` is in a
    git work tree; the file written or extended, else None (nothing to keep out of)."""
    folder = folder.resolve()
    if not in_git_work_tree(folder):
        return None
    ignore = folder / ".gitignore"
    text = ignore.read_text(encoding="utf-8") if ignore.exists() else ""
    listed = {line.strip() for line in text.splitlines()}
    missing = [name for name in KEPT_OUT if name not in listed and f"/{name}" not in listed]
    if not missing:
        return ignore
    if text and not text.endswith("\n"):
        text += "\n"
    text += "# hookd's secret and database: never commit them\n"
    ignore.write_text(text + "".join(f"/{name}\n" for name in missing), encoding="utf-8")
    return ignore
