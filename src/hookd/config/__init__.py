"""Load `hookd.yaml`: interpolate `${VAR}`, validate, and resolve it into frozen settings.

Every problem is reported with file:line and the key, all at once (`ConfigError.problems`).
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hookd.config.catch_up import check_catch_up
from hookd.config.model import (
    STANDARD,
    ConfigFile,
    EndpointSettings,
    ServerSettings,
    SignatureSettings,
)
from hookd.config.rules import Hook, build_job_reads, build_reads, build_rules, load_hooks
from hookd.config.validation_errors import validation_problems
from hookd.config.yamlsource import Path as KeyPath
from hookd.config.yamlsource import Source, read_yaml
from hookd.core.endpoint import EndpointSpec, SignatureScheme
from hookd.core.forge_profiles import profile
from hookd.core.payload_reads import Reads
from hookd.core.rules import HookRule
from hookd.core.standard_webhooks import signing_key
from hookd.errors import ConfigError

DEFAULT_CONFIG = "hookd.yaml"


@dataclass(frozen=True)
class Config:
    """The validated configuration, with relative paths resolved against the file's folder."""

    path: Path
    server: ServerSettings
    endpoints: Mapping[str, EndpointSettings]
    specs: Mapping[str, EndpointSpec] = field(repr=False)
    routes: Mapping[str, str]
    hooks: Mapping[str, Hook]
    rules: Mapping[str, tuple[HookRule, ...]]
    job_reads: Mapping[str, Reads] = field(repr=False)
    database: str
    variables: frozenset[str] = frozenset()
    version: str = ""
    """A short hash of the file and the secrets it names (`config_version`): which
    configuration decided a delivery. It says nothing of a secret's value."""

    def endpoint_path(self, name: str) -> str:
        return self.endpoints[name].path or f"/hooks/{name}"

    def receive_reads(self, endpoint: str | None) -> Reads:
        """What matching a delivery on `endpoint` reads of its payload (all of it for an
        endpoint no longer configured)."""
        spec = self.specs.get(endpoint or "")
        return spec.reads if spec is not None else Reads.everything()


def job_base_environment(config: Config, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment jobs start from: hookd's own, less every variable the config read
    (they hold its secrets) and hookd's own HOOKD_* settings."""
    return {
        name: value
        for name, value in environ.items()
        if name not in config.variables and not name.startswith("HOOKD_")
    }


def config_path(explicit: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """`--config PATH`, else `$HOOKD_CONFIG`, else `./hookd.yaml`."""
    return Path(explicit or environ.get("HOOKD_CONFIG") or DEFAULT_CONFIG)


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate `path`. Raises ConfigError listing every problem."""
    environ = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config: {exc.strerror}"]) from exc
    source = read_yaml(text, str(path), environ)
    if source.problems and source.data is None:
        raise ConfigError(source.problems)
    parsed = _validate(source)
    if parsed is None:
        _check_the_rest(source, path)
        raise ConfigError(_in_line_order(source))
    config = _resolve(parsed, path, source)
    if source.problems:
        raise ConfigError(_in_line_order(source))
    assert config is not None
    return replace(config, version=config_version(text, config.specs))


VERSION_LENGTH = 12


def config_version(text: str, specs: Mapping[str, EndpointSpec]) -> str:
    """The first 12 hex digits of a SHA-256 over the file's text and every endpoint's
    secrets (those read from secret files change without the file changing): a rotated
    secret is a new configuration. Only this digest is ever shown or stored."""
    digest = hashlib.sha256(text.encode())
    for name in sorted(specs):
        digest.update(b"\0" + name.encode())
        for secret in specs[name].secrets:
            digest.update(b"\0" + hashlib.sha256(secret).digest())
    return digest.hexdigest()[:VERSION_LENGTH]


def secret_files(config: Config) -> tuple[Path, ...]:
    """The secret files the config names, as paths resolved against its folder."""
    folder = config.path.parent
    return tuple(
        folder / file
        for endpoint in config.endpoints.values()
        for file in endpoint.secret_file or ()
    )


def _in_line_order(source: Source) -> list[str]:
    """The problems sorted by line (each is `FILE:LINE: ...`), as a compiler lists them."""
    start = len(source.filename) + 1

    def line(problem: str) -> int:
        number = problem[start:].split(":", 1)[0]
        return int(number) if number.isdigit() else 0

    return sorted(source.problems, key=line)


def _validate(source: Source) -> ConfigFile | None:
    if not isinstance(source.data, dict):
        source.problem((), "expected a mapping with server, endpoints and hooks")
        return None
    try:
        return ConfigFile.model_validate(source.data)
    except ValidationError as exc:
        for loc, message in validation_problems(exc):
            source.problem(loc, message)
            source.settle(loc)
        return None


def _check_the_rest(source: Source, path: Path) -> None:
    """After validation failed, validate again without the values it rejected, so the
    checks that follow (endpoints, hooks) report their problems too and `hookd check` lists
    them all at once. Problems that follow from a rejected value stay unsaid (`settle`)."""
    data = copy.deepcopy(source.data)
    removed: list[KeyPath] = []
    for loc in source.settled_paths():
        if not any(loc[: len(done)] == done for done in removed):
            taken = _remove(data, loc)
            if taken is not None:
                removed.append(taken)
                source.settle(taken, parent=True)
    try:
        parsed = ConfigFile.model_validate(data)
    except ValidationError:
        return
    _resolve(parsed, path, source)


def _remove(data: Any, loc: KeyPath) -> KeyPath | None:
    """Take out the value at `loc`, or its nearest ancestor that is a mapping's key. A
    section, or an endpoint or hook, is emptied instead, so it can still be referred to.
    Returns the path of what was taken out."""
    node, target = data, None
    for depth, part in enumerate(loc, start=1):
        if isinstance(node, dict) and part in node:
            target = (node, part, depth)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    if target is None:
        return None
    parent, key, depth = target
    if depth == 1 or (depth == 2 and loc[0] in ("endpoints", "hooks")):
        parent[key] = {}
    else:
        del parent[key]
    return loc[:depth]


def _resolve(parsed: ConfigFile, path: Path, source: Source) -> Config | None:
    folder = path.parent
    specs: dict[str, EndpointSpec] = {}
    routes: dict[str, str] = {}
    if not parsed.endpoints:
        source.problem(("endpoints",), "at least one endpoint is needed")
    for name, endpoint in parsed.endpoints.items():
        spec = _endpoint_spec(name, endpoint, folder, source)
        check_catch_up(name, endpoint, source)
        if spec is not None:
            specs[name] = spec
        route = endpoint.path or f"/hooks/{name}"
        if route in routes:
            source.problem(("endpoints", name, "path"), f"{route} is already {routes[route]}'s")
        routes[route] = name
    _check_server(parsed.server, source)
    hooks = load_hooks(parsed, source)
    if source.problems:
        return None
    reads = build_reads(parsed.endpoints, hooks)
    return Config(
        path=path,
        server=parsed.server,
        endpoints=parsed.endpoints,
        specs={name: replace(spec, reads=reads[name]) for name, spec in specs.items()},
        routes=routes,
        hooks=hooks,
        rules=build_rules(parsed.endpoints, hooks),
        job_reads=build_job_reads(hooks),
        database=_database_url(parsed.server.database, folder),
        variables=frozenset(source.variables),
    )


MIN_TOKEN_LENGTH = 16


def token_problem(server: ServerSettings) -> str | None:
    """Why `server.token` will not do for `server.host`, or None: beyond loopback a token
    is required, and one short enough to guess is refused."""
    if is_loopback(server.host):
        return None
    if server.token is None:
        return f"required when host is not a loopback address ({server.host})"
    length = len(server.token.get_secret_value())
    if length < MIN_TOKEN_LENGTH:
        return (
            f"must be at least {MIN_TOKEN_LENGTH} characters when host is not a loopback "
            f"address ({server.host}); this one has {length}. Try: openssl rand -hex 32"
        )
    return None


def _check_server(server: ServerSettings, source: Source) -> None:
    problem = token_problem(server)
    if problem is not None:
        source.problem(("server", "token"), problem)
    url = server.database
    if not (url.startswith("sqlite:///") or url.startswith(("postgresql://", "postgres://"))):
        source.problem(("server", "database"), "expected sqlite:///PATH or postgresql://...")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _database_url(url: str, folder: Path) -> str:
    if url.startswith("sqlite:///"):
        file = Path(url.removeprefix("sqlite:///"))
        if not file.is_absolute():
            file = folder / file
        return f"sqlite:///{file}"
    return url


def _endpoint_spec(
    name: str, endpoint: EndpointSettings, folder: Path, source: Source
) -> EndpointSpec | None:
    where = ("endpoints", name)
    secrets = [s.get_secret_value().encode() for s in endpoint.secret or []]
    if endpoint.secret and endpoint.secret_file:
        source.problem((*where, "secret_file"), "give secret or secret_file, not both")
    for index, file in enumerate(endpoint.secret_file or []):
        secret = _read_secret(folder / file, (*where, "secret_file", index), source)
        if secret:
            secrets.append(secret)
    if any(not s for s in secrets):
        source.problem((*where, "secret"), "a secret may not be empty")
    if not secrets and not endpoint.insecure and not endpoint.secret_file:
        source.problem(
            where,
            "has no secret: set secret or secret_file, or insecure: true to accept "
            "unsigned deliveries",
        )
    forge = profile(endpoint.forge)
    standard = forge.standard_always
    if endpoint.signature == STANDARD:
        if not forge.standard_signature:
            source.problem(
                (*where, "signature"), f"a {forge.label} endpoint does not take signature: standard"
            )
        standard = True
    elif endpoint.signature is not None and not forge.signature_scheme:
        source.problem((*where, "signature"), "only a generic endpoint takes a signature scheme")
    problems = {forge.secret_problem(s) for s in secrets} if forge.secret_problem else set()
    for problem in sorted(filter(None, problems)):
        source.problem((*where, "secret"), problem)
    if standard and any(signing_key(secret) is None for secret in secrets):
        source.problem(
            (*where, "secret"),
            "a Standard Webhooks secret is whsec_ followed by base64 (as the sender shows it)",
        )
    return EndpointSpec(
        name=name,
        forge=endpoint.forge,
        secrets=tuple(secrets),
        insecure=endpoint.insecure,
        legacy_sha1=endpoint.legacy_sha1,
        signature=_scheme(endpoint),
        event_header=endpoint.event_header,
        delivery_header=endpoint.delivery_header,
        standard=standard,
        tolerance=endpoint.timestamp_tolerance,
    )


def _scheme(endpoint: EndpointSettings) -> SignatureScheme:
    settings = endpoint.signature
    if not isinstance(settings, SignatureSettings):
        return SignatureScheme()
    return SignatureScheme(settings.header, settings.algorithm, settings.prefix)


def _read_secret(file: Path, where: tuple[str | int, ...], source: Source) -> bytes | None:
    try:
        secret = file.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        source.problem(where, f"cannot read {file}: {exc.strerror}")
        return None
    if not secret:
        source.problem(where, f"{file} is empty")
        return None
    return secret
