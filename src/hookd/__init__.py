"""hookd: a self-hosted webhook automation server for Git forges."""

__version__ = "0.1.0"
