"""`Config.version`: the short hash that names a configuration, of the file and the secrets
it names; and `secret_files`, what a reload watches beside the file."""

from __future__ import annotations

from pathlib import Path

from hookd.config import config_version, load_config, secret_files

TEXT = """\
server:
  port: 0
endpoints:
  github:
    secret_file: [keys/one.txt, keys/two.txt]
  plain:
    secret: inline-secret
hooks: {}
"""


def write(folder: Path, text: str = TEXT, one: str = "first", two: str = "second") -> Path:
    (folder / "keys").mkdir(exist_ok=True)
    (folder / "keys" / "one.txt").write_text(one + "\n", encoding="utf-8")
    (folder / "keys" / "two.txt").write_text(two, encoding="utf-8")
    path = folder / "hookd.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_same_file_and_secrets_are_the_same_version(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = load_config(write(tmp_path / "a"))
    second = load_config(write(tmp_path / "b"))
    assert first.version == second.version
    assert len(first.version) == 12 and int(first.version, 16) >= 0


def test_a_rotated_secret_file_is_a_new_version_though_the_file_is_the_same(
    tmp_path: Path,
) -> None:
    before = load_config(write(tmp_path)).version
    after = load_config(write(tmp_path, two="rotated")).version
    assert before != after
    # Only a trailing newline, which the secret is read without: the same secret.
    assert load_config(write(tmp_path, one="first")).version == before


def test_a_changed_file_is_a_new_version(tmp_path: Path) -> None:
    before = load_config(write(tmp_path)).version
    assert load_config(write(tmp_path, TEXT.replace("port: 0", "port: 1"))).version != before
    assert load_config(write(tmp_path, TEXT.replace("inline-secret", "other"))).version != before


def test_the_version_is_of_the_text_and_the_secrets_it_reads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    text = (tmp_path / "hookd.yaml").read_text(encoding="utf-8")
    assert config.version == config_version(text, config.specs)
    assert config_version(text, {}) != config.version


def test_secret_files_are_resolved_against_the_config_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path))
    assert secret_files(config) == (tmp_path / "keys" / "one.txt", tmp_path / "keys" / "two.txt")
