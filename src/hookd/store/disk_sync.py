"""Bringing a file's data to the disk, on each platform the way that reaches it."""

from __future__ import annotations

import fcntl
import os


def sync_data(descriptor: int) -> None:
    """Bring the file's data to the disk: fdatasync(2) on Linux; on macOS, whose fsync
    leaves it in the drive's cache, F_FULLFSYNC (as SQLite's `fullfsync` does); fsync where
    neither is there."""
    full = getattr(fcntl, "F_FULLFSYNC", None)
    if full is not None:
        fcntl.fcntl(descriptor, full)
    elif hasattr(os, "fdatasync"):
        os.fdatasync(descriptor)
    else:
        os.fsync(descriptor)
