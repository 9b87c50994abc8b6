"""`pip install .` (the README's quick start, not an editable install) ships every file
hookd reads at run time: the SQL migrations, templates, static files and samples."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "hookd"


def test_every_data_file_in_the_package_is_listed_in_package_data() -> None:
    settings = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = settings["tool"]["setuptools"]["package-data"]["hookd"]
    data = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    ]
    assert any(path.endswith(".sql") for path in data)
    unlisted = [path for path in data if not any(_listed(path, p) for p in patterns)]
    assert unlisted == []


def _listed(path: str, pattern: str) -> bool:
    """setuptools' globs: `*` stays within one folder."""
    return path.count("/") == pattern.count("/") and fnmatchcase(path, pattern)
