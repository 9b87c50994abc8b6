"""Receiving on a machine the forge cannot reach: a self-hosted relay (`server`) and its
forwarding client (`client`, which also reads smee.io channels: `smee`), an ngrok tunnel
(`tunnel`) and GitHub webhook registration (`github_hooks`)."""

from hookd.errors import HookdError


class RelayError(HookdError):
    """Base of the relay, forwarding, tunnel and registration errors; each is a sentence."""


class RefusedError(RelayError):
    """The relay refused the subscriber (wrong token, unknown channel): retrying cannot help."""


class TunnelError(RelayError):
    """The tunnel could not be opened (no token, no network, refused by the provider)."""


class GitHubError(RelayError):
    """GitHub's REST API refused or could not be reached; the sentence carries its message."""
