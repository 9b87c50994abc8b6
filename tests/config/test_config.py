"""`hookd.yaml`: interpolation, secrets, and problems reported as `FILE:LINE: key: message`,
all of them at once (INTERFACE §1)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from conftest import run_hookd
from hookd.config import Config, config_path, load_config
from hookd.errors import ConfigError

GOOD = """
server:
  port: 0
endpoints:
  github:
    secret: s3cret
hooks:
  deploy:
    on:
      push:
        branches: [main]
    run: ./deploy.sh {{ repository.full_name }} {{ after }}
    timeout: 10m
"""


def write(folder: Path, text: str, name: str = "hookd.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(folder: Path, text: str, environ: Mapping[str, str] | None = None) -> Config:
    return load_config(write(folder, text), environ or {})


def problems(folder: Path, text: str, environ: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(folder, text, environ)
    return raised.value.problems


def only_problem(folder: Path, text: str, environ: Mapping[str, str] | None = None) -> str:
    found = problems(folder, text, environ)
    assert len(found) == 1, found
    return found[0]


# -- ${VAR} -------------------------------------------------------------------------------


def test_replaces_variables_and_defaults_from_the_environment(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        server:
          port: ${PORT}
          database: ${DATABASE:-sqlite:///fallback.db}
          max_body: ${MAX_BODY:-1MB}
        endpoints:
          github:
            secret: pre-${SECRET}-post
        """,
        {"PORT": "9001", "SECRET": "xyz", "MAX_BODY": ""},
    )
    assert config.server.port == 9001
    assert config.database == f"sqlite:///{tmp_path / 'fallback.db'}"
    assert config.server.max_body == 1024 * 1024, "an empty variable takes the default"
    assert config.specs["github"].secrets == (b"pre-xyz-post",)
    assert {"PORT", "DATABASE", "MAX_BODY", "SECRET"} <= config.variables


def test_missing_variable_is_one_problem_naming_it_with_its_line(tmp_path: Path) -> None:
    text = """
        server:
          port: 0
        endpoints:
          github:
            secret: ${WEBHOOK_SECRET_NOT_SET}
        """
    problem = only_problem(tmp_path, text, {"OTHER": "x"})
    assert problem == (
        f"{tmp_path / 'hookd.yaml'}:5: endpoints.github.secret: "
        "environment variable WEBHOOK_SECRET_NOT_SET is not set"
    )


def test_every_missing_variable_is_named(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        server:
          port: ${PORT_NOT_SET}
        endpoints:
          github:
            secret: ${A_NOT_SET}${B_NOT_SET}
        """,
    )
    assert [problem.split(": ", 1)[1] for problem in found] == [
        "server.port: environment variable PORT_NOT_SET is not set",
        "endpoints.github.secret: environment variable A_NOT_SET is not set",
        "endpoints.github.secret: environment variable B_NOT_SET is not set",
    ]


def test_a_missing_variable_hides_no_other_problem(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
        endpoints:
          github: {secret: x}
        hooks:
          deploy:
            run: ./deploy.sh ${TARGET_NOT_SET}
        """,
    )
    assert [problem.split(": ", 1)[1] for problem in found] == [
        "hooks.deploy: needs on: (an event, a list, a map of filters, or '*')",
        "hooks.deploy.run: environment variable TARGET_NOT_SET is not set",
    ]


# -- secrets ------------------------------------------------------------------------------


def test_secret_file_is_read_relative_to_the_config_with_newline_trimmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    (folder / "keys").mkdir(parents=True)
    (folder / "keys" / "github").write_text("from a file \n", encoding="utf-8")
    (folder / "keys" / "gitea").write_bytes(b"windows\r\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(
        folder,
        """
        endpoints:
          github:
            secret_file: keys/github
          gitea:
            forge: gitea
            secret_file: keys/gitea
        """,
    )
    assert config.specs["github"].secrets == (b"from a file ",)
    assert config.specs["gitea"].secrets == (b"windows",)


def test_missing_secret_file_is_a_problem_with_its_line(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        endpoints:
          github:
            forge: github
            secret_file: no-such-file
        """,
    )
    assert problem.startswith(f"{tmp_path / 'hookd.yaml'}:4: endpoints.github.secret_file")
    assert "cannot read" in problem
    assert "no-such-file" in problem


def test_several_secrets_are_all_kept_for_rotation(tmp_path: Path) -> None:
    (tmp_path / "new-secret").write_text("new-from-file\n", encoding="utf-8")
    (tmp_path / "old-secret").write_text("old-from-file\n", encoding="utf-8")
    config = load(
        tmp_path,
        """
        endpoints:
          github:
            secret: [old, new]
          gitlab:
            forge: gitlab
            secret_file: [old-secret, new-secret]
        """,
    )
    assert config.specs["github"].secrets == (b"old", b"new")
    assert config.specs["gitlab"].secrets == (b"old-from-file", b"new-from-file")


def test_endpoint_without_secret_is_refused_unless_insecure(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        server:
          port: 0
        endpoints:
          github:
            forge: github
        """,
    )
    assert problem.startswith(f"{tmp_path / 'hookd.yaml'}:4: endpoints.github: has no secret")
    assert "insecure: true" in problem

    config = load(tmp_path, "endpoints:\n  github:\n    insecure: true\n")
    assert config.specs["github"].insecure
    assert config.specs["github"].secrets == ()


@pytest.mark.parametrize("token", ["1", "fifteen-chars-x"])
def test_beyond_loopback_a_short_token_is_refused(tmp_path: Path, token: str) -> None:
    problem = only_problem(
        tmp_path,
        f"""
        server:
          host: 0.0.0.0
          token: "{token}"
        endpoints:
          github: {{secret: x}}
        """,
    )
    assert "server.token: must be at least 16 characters" in problem
    assert f"this one has {len(token)}" in problem


def test_non_loopback_host_needs_a_token(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        server:
          host: 0.0.0.0
        endpoints:
          github: {secret: x}
        """,
    )
    assert re.match(rf"{re.escape(str(tmp_path / 'hookd.yaml'))}:\d+: server.token: ", problem)
    assert "0.0.0.0" in problem

    with_token = load(
        tmp_path,
        """
        server:
          host: 0.0.0.0
          token: ${TOKEN}
        endpoints:
          github: {secret: x}
        """,
        {"TOKEN": "t0ken-of-16-chars"},
    )
    assert with_token.server.token is not None
    for loopback in ("127.0.0.1", "::1", "localhost"):
        config = load(
            tmp_path, f"server:\n  host: '{loopback}'\nendpoints:\n  github: {{secret: x}}\n"
        )
        assert config.server.host == loopback


# -- problems: FILE:LINE: dotted.key: message ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "key", "message"),
    [
        pytest.param(
            """
            endpoints:
              github:
                secret: x
                colour: blue
            """,
            4, "endpoints.github.colour", "unknown key", id="unknown-endpoint-key",
        ),
        pytest.param(
            """
            server:
              port: 0
              workerz: 2
            endpoints:
              github: {secret: x}
            """,
            3, "server.workerz", "unknown key", id="unknown-server-key",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on: push
                run: echo hi
                retry: 3
            """,
            7, "hooks.deploy.retry", "unknown key", id="unknown-hook-key",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on:
                  push:
                    branches: 7
                run: echo hi
            """,
            7, "hooks.deploy.on.push.branches", "expected a list of strings", id="bad-on",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on: push

                run: ./deploy.sh {{ repository.full_name
            """,
            7, "hooks.deploy.run", "template", id="bad-run-template",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on: push
                if: "sender.login =="
                run: echo hi
            """,
            6, "hooks.deploy.if", "expression", id="bad-if",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on: push
                run: echo hi
                forward: https://example.invalid/hook
            """,
            4, "hooks.deploy", "needs exactly one action", id="two-actions",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
              gitlab: {forge: gitlab, secret: y}
            hooks:
              deploy:
                on: push
                run: echo hi
            """,
            5, "hooks.deploy", "needs endpoint", id="which-endpoint",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
              mirror:
                secret: y
                path: /hooks/github
            """,
            5, "endpoints.mirror.path", "/hooks/github", id="duplicate-path",
        ),
        pytest.param(
            """
            server:
              max_body: lots
            endpoints:
              github: {secret: x}
            """,
            2, "server.max_body", "not a size", id="bad-size",
        ),
        pytest.param(
            """
            endpoints:
              github: {secret: x}
            hooks:
              deploy:
                on: push
                run: echo hi
                timeout: forever
            """,
            7, "hooks.deploy.timeout", "not a duration", id="bad-duration",
        ),
    ],
)  # fmt: skip
def test_problem_names_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str, message: str
) -> None:
    problem = only_problem(tmp_path, text)
    prefix = f"{tmp_path / 'hookd.yaml'}:{line}: {key}: "
    assert problem.startswith(prefix), problem
    assert message in problem.removeprefix(prefix)


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path,
        """
        server:
          port: 0
        endpoints:
          github:
            secret: x
             path: /oops
        """,
    )
    assert problem.startswith(f"{tmp_path / 'hookd.yaml'}:6: not valid YAML: ")


THREE_PROBLEMS = """
server:
  port: 99999
endpoints:
  github:
    secret: x
    colour: blue
hooks:
  deploy:
    on: {push: {branches: 7}}
    run: echo hi
"""


def test_all_problems_are_reported_at_once_in_line_order(tmp_path: Path) -> None:
    found = problems(tmp_path, THREE_PROBLEMS)
    assert [problem.split(": ", 2)[:2] for problem in found] == [
        [f"{tmp_path / 'hookd.yaml'}:2", "server.port"],
        [f"{tmp_path / 'hookd.yaml'}:6", "endpoints.github.colour"],
        [f"{tmp_path / 'hookd.yaml'}:9", "hooks.deploy.on.push.branches"],
    ]


def test_a_rejected_value_brings_no_follow_on_problems(tmp_path: Path) -> None:
    # Each value below is wrong once; what follows from leaving it out (no secret, no
    # action, no endpoint) is not a second problem.
    found = problems(
        tmp_path,
        """
        endpoints:
          github:
            secret: [fine, {not: a string}]
          gitlab: 5
        hooks:
          deploy:
            endpoint: gitlab
            on: push
            run: 7
        """,
    )
    assert [problem.split(": ", 2)[1] for problem in found] == [
        "endpoints.github.secret.1",
        "endpoints.gitlab",
        "hooks.deploy.run",
    ]


# -- values -------------------------------------------------------------------------------


def test_sizes_and_durations_are_parsed(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        server:
          max_body: 1KB
          retention: 30d
        endpoints:
          github: {secret: x}
        hooks:
          deploy:
            on: push
            run: echo hi
            timeout: 1h30m
          quick:
            on: push
            run: echo hi
            timeout: 45
        """,
    )
    assert config.server.max_body == 1024
    assert config.server.retention == 30 * 86400
    assert config.hooks["deploy"].timeout == 5400
    assert config.hooks["quick"].timeout == 45


def test_config_path_is_option_then_environment_then_current_folder() -> None:
    assert config_path("a.yaml", {"HOOKD_CONFIG": "b.yaml"}) == Path("a.yaml")
    assert config_path(None, {"HOOKD_CONFIG": "b.yaml"}) == Path("b.yaml")
    assert config_path(None, {}) == Path("hookd.yaml")


# -- hookd check --------------------------------------------------------------------------


def test_hookd_check_accepts_a_good_config(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = run_hookd("check", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 0
    assert "OK" in result.stdout
    assert result.stderr == ""


def test_hookd_check_prints_every_problem_and_exits_1(tmp_path: Path) -> None:
    path = write(tmp_path, THREE_PROBLEMS)
    result = run_hookd("check", cwd=tmp_path, env={"HOOKD_CONFIG": str(path)}, check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 3, result.stderr
    for line, expected in zip(lines, (2, 6, 9), strict=True):
        assert re.match(rf"{re.escape(str(path))}:{expected}: [\w.]+: \S", line), line
    assert result.stdout == ""
