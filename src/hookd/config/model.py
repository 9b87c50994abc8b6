"""The shape of `hookd.yaml`, validated by pydantic. Secrets stay `SecretStr` so no repr,
log line or error message ever shows them."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from hookd.config.catch_up import CatchUpSettings
from hookd.core.standard_webhooks import DEFAULT_TOLERANCE
from hookd.core.units import parse_duration, parse_size
from hookd.core.vocabulary import ActionKind, Forge

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _size(value: Any) -> Any:
    return (
        parse_size(value) if isinstance(value, str | int) and not isinstance(value, bool) else value
    )


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    return value


def _network(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or CIDR network") from exc
    return value


def _secrets(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _strings(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


Size = Annotated[int, BeforeValidator(_size), Field(gt=0)]
Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
ReplayWindow = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
Network = Annotated[IPNetwork, BeforeValidator(_network)]
SecretList = Annotated[list[SecretStr], BeforeValidator(_secrets)]
StringList = Annotated[list[str], BeforeValidator(_strings)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    database: str = "sqlite:///hookd.db"
    max_body: Size = 25 * 1024 * 1024
    token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    workers: int | None = Field(default=None, ge=0)
    retention: Duration | None = None
    # Failed sign-ins (token, login form, session cookie) a client may make per window.
    auth_failures: int = Field(default=10, ge=0)
    auth_window: Duration = 60.0
    # Rejected requests a client may make in a minute before the rest are answered 429;
    # 0 turns it off. A request that verifies is never held back.
    reject_limit: int = Field(default=20, ge=0)
    # The receive edge (hookd.web.http_limits): what one client can make the server hold.
    max_inflight: Size | None = None  # body bytes held by all requests at once; 4 x max_body
    max_header_bytes: Size = 64 * 1024
    header_timeout: Duration = 10.0
    body_timeout: Duration = 10.0
    keepalive_timeout: Duration = 5.0
    max_connections: int = Field(default=1000, ge=1)

    @property
    def inflight_budget(self) -> int:
        """`max_inflight`, or four deliveries of the largest size when it is not set."""
        return self.max_inflight if self.max_inflight is not None else 4 * self.max_body

    @model_validator(mode="after")
    def _budget_fits_a_delivery(self) -> ServerSettings:
        if self.inflight_budget < self.max_body:
            raise ValueError(
                f"max_inflight ({self.inflight_budget} bytes) must be at least max_body "
                f"({self.max_body} bytes), or no delivery of the largest size could be received"
            )
        return self

    @field_validator("token")
    @classmethod
    def _token_not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        return value


class SignatureSettings(Strict):
    header: str = "X-Hub-Signature-256"
    algorithm: Literal["sha1", "sha256", "sha512"] = "sha256"
    prefix: str = "sha256="


STANDARD = "standard"
"""`signature: standard`."""


class EndpointSettings(Strict):
    forge: Forge = Forge.GITHUB
    secret: SecretList | None = None
    secret_file: StringList | None = None
    path: str | None = None
    insecure: bool = False
    legacy_sha1: bool = False
    signature: SignatureSettings | Literal["standard"] | None = None
    """A generic endpoint's HMAC scheme, or `standard` (Standard Webhooks) where the forge
    takes it (GitLab's signing token)."""
    # Standard Webhooks: how far a delivery's webhook-timestamp may be from now.
    timestamp_tolerance: Duration = DEFAULT_TOLERANCE
    event_header: str | None = None
    delivery_header: str | None = None
    allow_ips: list[Network] | None = None
    trusted_proxies: list[Network] = Field(default_factory=list)
    api_url: str | None = None
    api_token: SecretStr | None = None
    app_id: int | None = None
    private_key_file: str | None = None
    # A body identical to one accepted on this endpoint within this long is a duplicate
    # (72 h: GitHub's redelivery horizon); 0 turns the check off.
    replay_window: ReplayWindow = 72 * 3600.0
    catch_up: CatchUpSettings = Field(default_factory=CatchUpSettings)

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must start with '/', got {value!r}")
        return value


class ConcurrencySettings(Strict):
    group: str
    cancel_in_progress: bool = Field(default=False, alias="cancel-in-progress")


def _concurrency(value: Any) -> Any:
    return {"group": value} if isinstance(value, str) else value


class ForwardSettings(Strict):
    kind: ClassVar[ActionKind] = ActionKind.FORWARD
    url: str
    secret: SecretStr | None = None
    timeout: Duration = 10.0
    # Send the delivery's own signature headers on (the target shares the endpoint's secret).
    original_signature: bool = False


def _forward(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class MirrorSettings(Strict):
    kind: ClassVar[ActionKind] = ActionKind.MIRROR
    path: str
    push_to: str | None = Field(default=None, alias="push-to")
    url: str | None = None


def _mirror(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class HookSettings(Strict):
    endpoint: str | None = None
    on: Any = None
    if_: str | None = Field(default=None, alias="if")
    run: str | list[str] | None = None
    shell: bool = False
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    forward: Annotated[ForwardSettings | None, BeforeValidator(_forward)] = None
    mirror: Annotated[MirrorSettings | None, BeforeValidator(_mirror)] = None
    github: dict[str, Any] | None = None
    gitlab: dict[str, Any] | None = None
    python: str | None = None
    timeout: Duration | None = None
    retries: int = Field(default=0, ge=0, le=100)
    concurrency: Annotated[ConcurrencySettings | None, BeforeValidator(_concurrency)] = None
    # Leave the processes a job started running when it ends (a service manager is better).
    keep_background: bool = False


class ConfigFile(Strict):
    server: ServerSettings = Field(default_factory=ServerSettings)
    endpoints: dict[str, EndpointSettings] = Field(default_factory=dict)
    hooks: dict[str, HookSettings] = Field(default_factory=dict)
