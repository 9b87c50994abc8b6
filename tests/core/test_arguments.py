"""A payload value never starts an option the command's own text did not write: for
`run:` words, and for a `{{ }}` that starts a word in a `shell: true` script."""

from __future__ import annotations

from typing import Any

import pytest

from hookd.core.arguments import option_word, starts_a_shell_word
from hookd.core.render import RenderError, render_argv, render_shell, template_context

HOSTILE_REF = "refs/heads/--upload-pack=touch${IFS}pwned;"


def ctx(**values: Any) -> dict[str, Any]:
    return template_context({"ref": HOSTILE_REF, "title": "-rf /", "name": "site", **values}, {})


def test_the_pushed_option_fails_with_a_sentence_naming_the_word_and_the_value() -> None:
    with pytest.raises(RenderError) as info:
        render_argv("git fetch origin {{ ref | branch }}", ctx())
    assert str(info.value) == (
        "command 'git fetch origin {{ ref | branch }}': the word '{{ ref | branch }}' renders "
        "'--upload-pack=touch${IFS}pwned;', which starts with '-' and would be read as an "
        "option; write -- before the arguments that come from the payload "
        "(e.g. git fetch origin -- {{ ref | branch }})"
    )


@pytest.mark.parametrize(
    "command",
    [
        "git fetch origin {{ ref | branch }}",
        "./deploy.sh '{{ title }}'",
        ["./deploy.sh", "{{ title }}"],
        "./deploy.sh {{ name }} {{ title }} --",
        "{{ title }}",
    ],
)
def test_a_value_starting_an_option_fails(command: str | list[str]) -> None:
    with pytest.raises(RenderError, match="would be read as an option"):
        render_argv(command, ctx())


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "git fetch origin -- {{ ref | branch }}",
            ("git", "fetch", "origin", "--", "--upload-pack=touch${IFS}pwned;"),
        ),
        (["./deploy.sh", "--", "{{ title }}"], ("./deploy.sh", "--", "-rf /")),
        ("./deploy.sh --title={{ title }}", ("./deploy.sh", "--title=-rf /")),
        ("./deploy.sh -t{{ title }}", ("./deploy.sh", "-t-rf /")),
        ("./deploy.sh x{{ title }}", ("./deploy.sh", "x-rf /")),
        ("./deploy.sh {{ name }}", ("./deploy.sh", "site")),
    ],
)
def test_a_dash_the_config_wrote_or_after_a_double_dash_passes(
    command: str | list[str], expected: tuple[str, ...]
) -> None:
    assert render_argv(command, ctx()) == expected


def test_option_word_finds_the_first_offender_before_a_double_dash() -> None:
    assert option_word(["a", "{{ x }}", "--", "{{ y }}"], ["a", "-x", "--", "-y"]) == 1
    assert option_word(["a", "--", "{{ y }}"], ["a", "--", "-y"]) is None
    assert option_word(["a", "{{ x }}"], ["a", "--"]) == 1  # a rendered -- is no end of options


@pytest.mark.parametrize(
    "command",
    [
        "git fetch origin {{ ref | branch }}",
        'git fetch origin "{{ ref | branch }}"',
        "echo ok; git fetch {{ ref | branch }}",
        "a -- b && git fetch {{ ref | branch }}",
        "x=$(git fetch {{ ref | branch }})",
    ],
)
def test_shell_refuses_a_value_starting_an_option_at_a_word(command: str) -> None:
    with pytest.raises(RenderError, match="would be read as an option"):
        render_shell(command, ctx())


@pytest.mark.parametrize(
    "command",
    [
        "git fetch origin -- {{ ref | branch }}",
        'echo "branch {{ ref | branch }}"',
        "REF={{ ref | branch }}",
        "echo x{{ ref | branch }}",
        "echo --ref={{ ref | branch }}",
        "# {{ ref | branch }}\necho done",
    ],
)
def test_shell_lets_a_value_through_where_it_starts_no_option(command: str) -> None:
    _, env = render_shell(command, ctx())
    assert env == {"HOOKD_T0": "--upload-pack=touch${IFS}pwned;"}


def test_starts_a_shell_word_reads_the_text_before_the_value() -> None:
    assert starts_a_shell_word("git fetch ", in_double_quotes=False)
    assert starts_a_shell_word('git fetch "', in_double_quotes=True)
    assert not starts_a_shell_word('echo "a ', in_double_quotes=True)
    assert not starts_a_shell_word("v=", in_double_quotes=False)
    assert not starts_a_shell_word("git fetch -- ", in_double_quotes=False)
    assert starts_a_shell_word("x -- y; git ", in_double_quotes=False)
