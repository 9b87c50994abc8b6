"""The sandboxed template engine: names, errors, filters, the sandbox, argv and shell mode."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hookd.core.render import (
    RenderError,
    check_command,
    check_expression,
    check_template,
    evaluate,
    render_argv,
    render_shell,
    render_text,
    template_context,
)
from hookd.errors import HookdError

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"

PUSH: dict[str, Any] = {
    "ref": "refs/heads/main",
    "before": "0" * 40,
    "after": SHA,
    "deleted": False,
    "forced": True,
    "size": 2,
    "head_commit": {"id": SHA, "message": "Fix the build"},
    "commits": [{"id": SHA, "message": "Fix the build", "added": ["a.txt"]}],
    "repository": {"full_name": "octo/site", "owner": {"login": "octo"}, "items": 3},
    "sender": {"login": "alice"},
    "pull-request-url": "https://example.test/pr/1",
    "nothing": None,
}

HOOKD = {"hookd": {"event": "push", "action": None, "delivery": "d-1", "hook": "deploy"}}

# Values a payload could carry to break out of an argument or a script.
HOSTILE = [
    "$(rm -rf ~)",
    "`rm -rf ~`",
    "a b; rm -rf ~",
    "x | sh",
    "x && touch pwned",
    "line1\nrm -rf ~",
    "${IFS}rm${IFS}-rf",
    "*",
    "'; touch pwned; '",
    '"; touch pwned; "',
    "{{ 7 * 7 }}",
    "\\",
    "",
]


def ctx(**changes: Any) -> dict[str, Any]:
    return template_context({**PUSH, **changes}, HOOKD)


def render_error(source: str, context: dict[str, Any] | None = None) -> str:
    with pytest.raises(RenderError) as info:
        render_text(source, ctx() if context is None else context)
    return str(info.value)


# --- names --------------------------------------------------------------------------------


def test_context_exposes_top_level_keys_payload_and_extra() -> None:
    context = ctx()
    assert render_text("{{ repository.full_name }} {{ after }} {{ ref }}", context) == (
        f"octo/site {SHA} refs/heads/main"
    )
    assert render_text("{{ payload['pull-request-url'] }}", context) == PUSH["pull-request-url"]
    assert render_text("{{ hookd.event }}/{{ hookd.delivery }}", context) == "push/d-1"


def test_extra_and_payload_names_win_over_payload_keys() -> None:
    context = template_context({"hookd": "spoofed", "payload": "spoofed", "ref": "x"}, HOOKD)
    assert render_text("{{ hookd.hook }}", context) == "deploy"
    assert render_text("{{ payload.payload }} {{ payload.ref }}", context) == "spoofed x"


def test_payload_key_wins_over_dict_method_of_same_name() -> None:
    assert render_text("{{ repository.items }}", ctx()) == "3"


def test_dict_methods_still_work_when_no_key_shadows_them() -> None:
    assert render_text("{{ sender.keys() | list | join(',') }}", ctx()) == "login"


def test_keeps_trailing_newline() -> None:
    assert render_text("{{ ref }}\n", ctx()) == "refs/heads/main\n"


def test_missing_name_is_named() -> None:
    message = render_error("{{ head_commit.message }}", ctx(head_commit=None))
    assert message.endswith("null has no attribute 'message'")
    context = template_context({"ref": "x"}, {})
    assert render_error("{{ head_commit.message }}", context).endswith("'head_commit' is undefined")


def test_missing_attribute_names_the_object_it_was_read_from() -> None:
    assert render_error("deploy {{ repository.fullname }}") == (
        "template 'deploy {{ repository.fullname }}': 'repository' has no attribute 'fullname'"
    )
    assert render_error("{{ repository.owner.name }}").endswith(
        "'repository.owner' has no attribute 'name'"
    )
    assert render_error("{{ commits[0].author }}").endswith(
        "'commits[0]' has no attribute 'author'"
    )
    assert render_error("{{ commits[5] }}").endswith("'commits' has no element 5")
    assert render_error("{{ hookd.nope }}").endswith("'hookd' has no attribute 'nope'")
    assert render_error("{{ payload['no-such'] }}").endswith("'payload' has no attribute 'no-such'")


def test_missing_attribute_is_named_inside_a_loop() -> None:
    message = render_error("{% for c in commits %}{{ c.author }}{% endfor %}")
    assert message.endswith("'commits[0]' has no attribute 'author'")


def test_missing_names_fail_in_every_use_never_as_empty_text() -> None:
    for source in [
        "{{ nope }}",
        "{{ nope ~ 'x' }}",
        "{% if nope %}x{% endif %}",
        "{{ nope | tojson }}",
        "{{ nope | branch }}",
        "{{ nope | short }}",
        "{{ nope.attr }}",
        "{{ nope.__class__ }}",
        "{{ 'x' if nope == 1 else 'y' }}",
    ]:
        assert "'nope' is undefined" in render_error(source), source


def test_a_missing_name_can_be_tested_or_defaulted_on_purpose() -> None:
    assert render_text("{{ nope | default('none') }}", ctx()) == "none"
    assert render_text("{{ nope is defined }}", ctx()) == "false"
    assert render_text("{{ head_commit.author | default('?') }}", ctx()) == "?"


def test_render_error_is_a_value_error_and_a_hookd_error() -> None:
    error = RenderError("x")
    assert isinstance(error, ValueError)
    assert isinstance(error, HookdError)


def test_long_templates_are_shortened_in_messages() -> None:
    source = "x" * 200 + "{{ nope }}"
    message = render_error(source)
    assert len(message) < 150
    assert message.endswith("'nope' is undefined")


# --- printing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ deleted }} {{ forced }}", "false true"),
        ("{{ size }} {{ 1.5 }}", "2 1.5"),
        ("[{{ nothing }}]", "[]"),
        ("{{ sender }}", '{"login": "alice"}'),
        ("{{ commits[0].added }}", '["a.txt"]'),
        ("{{ 'é' }}", "é"),
    ],
)
def test_prints_payload_values_as_json_like_text(source: str, expected: str) -> None:
    assert render_text(source, ctx()) == expected


@pytest.mark.parametrize("source", ["{{ self }}", "{{ ref.upper }}", "{{ sender.items() }}"])
def test_refuses_to_print_what_is_not_payload_data(source: str) -> None:
    assert "cannot print a" in render_error(source)


# --- filters ------------------------------------------------------------------------------


def test_branch_and_tag_filters() -> None:
    assert render_text("{{ ref | branch }}", ctx()) == "main"
    assert render_text("{{ ref | branch }}", ctx(ref="refs/heads/release/1.x")) == "release/1.x"
    assert render_text("{{ ref | tag }}", ctx(ref="refs/tags/v1.2")) == "v1.2"
    # GitHub's create and delete events send the short name already.
    assert render_text("{{ ref | branch }}", ctx(ref="feature")) == "feature"


def test_branch_filter_refuses_a_tag_ref_and_tag_a_branch_ref() -> None:
    assert render_error("{{ ref | tag }}").endswith("'refs/heads/main' is not a tag ref")
    message = render_error("{{ ref | branch }}", ctx(ref="refs/tags/v1"))
    assert message.endswith("'refs/tags/v1' is not a branch ref")


def test_short_filter() -> None:
    assert render_text("{{ after | short }}", ctx()) == SHA[:7]
    assert render_text("{{ after | short(12) }}", ctx()) == SHA[:12]


def test_filters_taking_text_refuse_other_values() -> None:
    assert render_error("{{ size | short }}").endswith("the short filter takes text, not int")
    assert render_error("{{ nothing | branch }}").endswith("the branch filter takes text, not null")


def test_tojson_is_plain_json() -> None:
    assert render_text("{{ sender | tojson }}", ctx()) == '{"login": "alice"}'
    assert render_text("{{ '<a & é>' | tojson }}", ctx()) == '"<a & é>"'
    assert render_text("{{ sender | tojson(indent=2) }}", ctx()) == '{\n  "login": "alice"\n}'
    assert render_text("{{ nothing | tojson }}", ctx()) == "null"


def test_no_jinja_globals() -> None:
    for name in ["range", "cycler", "lipsum", "joiner", "namespace", "dict"]:
        assert render_error("{{ " + name + " }}").endswith(f"'{name}' is undefined")


# --- the sandbox --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ (1).__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ self }}",
        "{{ self.__init__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ ref.__len__() }}",
        "{{ ref.format.__globals__ }}",
        "{{ '{0.__class__}'.format(ref) }}",
        "{{ '{0.__class__.__mro__}'.format_map({'0': ref}) }}",
        "{{ payload | attr('__class__') }}",
        "{{ commits | map(attribute='__class__') | list }}",
        "{{ sender.get.__self__ }}",
        "{{ payload.update({'ref': 'x'}) }}",
        "{{ payload.clear() }}",
        "{{ commits.append(1) }}",
        "{{ commits.pop() }}",
        "{% set x = payload.pop('ref') %}",
        "{{ config }}",
        "{{ request }}",
        "{{ ref.encode('no-such-codec') }}",
        "{{ 1 / 0 }}",
    ],
)
def test_escapes_and_mutations_fail_as_render_errors(source: str) -> None:
    context = ctx()
    before = copy.deepcopy(context)
    with pytest.raises(RenderError):
        render_text(source, context)
    assert context == before


def test_unsafe_attribute_message_says_so() -> None:
    assert render_error("{{ ''.__class__ }}").endswith(
        "access to attribute '__class__' of 'str' object is unsafe"
    )


# --- syntax -------------------------------------------------------------------------------


def test_syntax_errors_give_the_message_and_line() -> None:
    assert render_error("{{ a } }") == "template '{{ a } }': unexpected '}' (line 1)"
    with pytest.raises(RenderError, match=r"\(line 2\)$"):
        check_template("ok\n{{ a b }}")
    with pytest.raises(RenderError, match="No filter named 'nope'"):
        check_template("{{ ref | nope }}")


def test_check_template_accepts_valid_templates_without_a_context() -> None:
    check_template("deploy {{ repository.full_name }} {% if deleted %}gone{% endif %}")


def test_check_expression() -> None:
    check_expression("sender.login != 'dependabot[bot]'")
    with pytest.raises(RenderError, match=r"^expression 'ref ==': .*\(line 1\)$"):
        check_expression("ref ==")
    with pytest.raises(RenderError, match=re.escape("without {{ }}")):
        check_expression("{{ ref == 'x' }}")


# --- if: ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sender.login != 'dependabot[bot]'", True),
        ("sender.login == 'dependabot[bot]'", False),
        ("ref == 'refs/heads/main' and not deleted", True),
        ("ref == 'refs/heads/main' and forced is false", False),
        ("'skip ci' not in head_commit.message", True),
        ("'build' in head_commit.message", True),
        ("ref | branch == 'main'", True),
        ("hookd.event == 'push'", True),
        ("commits", True),
        ("commits | length > 5", False),
        ("nothing", False),
    ],
)
def test_evaluate(expression: str, expected: bool) -> None:
    assert evaluate(expression, ctx()) is expected


def test_evaluate_names_a_missing_name_instead_of_taking_it_as_false() -> None:
    with pytest.raises(RenderError) as info:
        evaluate("sender.login != 'dependabot[bot]'", template_context({}, {}))
    assert (
        str(info.value) == "expression \"sender.login != 'dependabot[bot]'\": 'sender' is undefined"
    )
    with pytest.raises(RenderError, match="'sender' has no attribute 'name'"):
        evaluate("sender.name == 'x'", ctx())
    with pytest.raises(RenderError, match="null has no attribute 'message'"):
        evaluate("'skip ci' not in head_commit.message", ctx(head_commit=None))


# --- run: without a shell -----------------------------------------------------------------


def test_argv_splits_first_then_renders_each_word() -> None:
    argv = render_argv("./deploy.sh {{ repository.full_name }} {{ after }}", ctx())
    assert argv == ("./deploy.sh", "octo/site", SHA)


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('./deploy.sh "{{ ref }}"', ("./deploy.sh", "refs/heads/main")),
        ("echo 'a b' \"c d\" e\\ f", ("echo", "a b", "c d", "e f")),
        ("echo '{{ ref }}'", ("echo", "refs/heads/main")),
        ('echo "branch: {{ ref | branch }}"', ("echo", "branch: main")),
        ("echo x{{ ref | branch }}y", ("echo", "xmainy")),
        ("echo {{ 'a b' }} {{ \"}}\" }}", ("echo", "a b", "}}")),
        ("echo {{ ref|replace('/', ' ') }}", ("echo", "refs heads main")),
        ("echo {% if deleted %}gone{% else %}here{% endif %}", ("echo", "here")),
        ("echo {# a comment #}x", ("echo", "x")),
        ("echo {% raw %}{{ ref }}{% endraw %}", ("echo", "{{ ref }}")),
        ("echo # not a comment", ("echo", "#", "not", "a", "comment")),
        ("  echo\t\n x  ", ("echo", "x")),
    ],
)
def test_argv_follows_shell_quoting_around_templates(
    command: str, expected: tuple[str, ...]
) -> None:
    assert render_argv(command, ctx()) == expected


def test_argv_takes_a_list_as_the_words() -> None:
    argv = render_argv(["./deploy.sh", "{{ ref }} and more", "'quoted'"], ctx())
    assert argv == ("./deploy.sh", "refs/heads/main and more", "'quoted'")


@pytest.mark.parametrize("value", HOSTILE)
def test_argv_keeps_a_hostile_value_as_one_literal_argument(value: str) -> None:
    context = ctx(ref=value)
    assert render_argv("./deploy.sh {{ ref }} --", context) == ("./deploy.sh", value, "--")
    assert render_argv('./deploy.sh "{{ ref }}"', context) == ("./deploy.sh", value)
    assert render_argv(["./deploy.sh", "{{ ref }}"], context) == ("./deploy.sh", value)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("echo 'a", 'command "echo \'a": a quote is not closed'),
        ("echo a\\", "command 'echo a\\\\': it ends with a lone backslash"),
        ("", "the command is empty"),
        ("   ", "the command is empty"),
        ("echo \0", "command 'echo \\x00': it contains a NUL byte"),
    ],
)
def test_argv_refuses_commands_it_cannot_split(command: str, message: str) -> None:
    with pytest.raises(RenderError) as info:
        render_argv(command, ctx())
    assert str(info.value) == message


def test_argv_refuses_an_empty_list() -> None:
    with pytest.raises(RenderError, match="the command is empty"):
        render_argv([], ctx())


def test_argv_refuses_an_empty_program_name() -> None:
    with pytest.raises(RenderError, match="the program name renders empty"):
        render_argv("{{ nothing }} x", ctx())


def test_argv_refuses_a_value_with_a_nul_byte() -> None:
    with pytest.raises(RenderError, match="a value contains a NUL byte"):
        render_argv("echo {{ ref }}", ctx(ref="a\0b"))


def test_argv_errors_name_the_missing_attribute() -> None:
    with pytest.raises(RenderError) as info:
        render_argv("./deploy.sh {{ repository.fullname }}", ctx())
    assert str(info.value) == (
        "command './deploy.sh {{ repository.fullname }}': 'repository' has no attribute 'fullname'"
    )


def test_argv_block_spanning_words_is_a_syntax_error() -> None:
    with pytest.raises(RenderError, match="Unexpected end of template"):
        render_argv("echo {% if deleted %}a b{% endif %}", ctx())


# --- run: with shell: true ----------------------------------------------------------------


def test_shell_passes_values_only_through_the_environment() -> None:
    marker = "MARKER$(touch pwned)`x`;'\""
    script, env = render_shell("./deploy.sh {{ ref }} && echo done", ctx(ref=marker))
    assert script == './deploy.sh "${HOOKD_T0}" && echo done'
    assert env == {"HOOKD_T0": marker}
    assert "MARKER" not in script


@pytest.mark.parametrize(
    ("command", "script"),
    [
        ("echo {{ ref }}", 'echo "${HOOKD_T0}"'),
        ('echo "on {{ ref }} now"', 'echo "on ${HOOKD_T0} now"'),
        ("echo x{{ ref }}y", 'echo x"${HOOKD_T0}"y'),
        ("echo {{ ref }}{{ after }}", 'echo "${HOOKD_T0}""${HOOKD_T1}"'),
        ("echo 'it''s' {{ ref }}", "echo 'it''s' \"${HOOKD_T0}\""),
        ("echo \\' {{ ref }}", 'echo \\\' "${HOOKD_T0}"'),
        ('echo "a \\" b {{ ref }}"', 'echo "a \\" b ${HOOKD_T0}"'),
        ("x=$(basename {{ ref }})", 'x=$(basename "${HOOKD_T0}")'),
        ('x="$(echo "{{ ref }}")"', 'x="$(echo "${HOOKD_T0}")"'),
        ("x=$( (echo ')') ) {{ ref }}", "x=$( (echo ')') ) \"${HOOKD_T0}\""),
        ("# don't\necho {{ ref }}", '# don\'t\necho "${HOOKD_T0}"'),
        ("echo a#b' {{ ref }}'", None),
        ("cat <<< {{ ref }}", 'cat <<< "${HOOKD_T0}"'),
        ("echo {# note #}{{ ref }}", 'echo "${HOOKD_T0}"'),
        ("{% raw %}echo '{{ x }}'{% endraw %} {{ ref }}", "echo '{{ x }}' \"${HOOKD_T0}\""),
    ],
)
def test_shell_quotes_each_variable_for_where_it_stands(command: str, script: str | None) -> None:
    if script is None:
        with pytest.raises(RenderError, match="inside single quotes"):
            render_shell(command, ctx())
        return
    assert render_shell(command, ctx())[0] == script


@pytest.mark.parametrize(
    ("command", "where"),
    [
        ("echo '{{ ref }}'", "inside single quotes"),
        ("echo $'{{ ref }}'", "inside $'...'"),
        ("echo `echo {{ ref }}`", "inside backticks"),
        ("echo ${X:-{{ ref }}}", "inside ${...}"),
        ("cat <<EOF\n{{ ref }}\nEOF", "after a heredoc (<<)"),
        ("cat <<EOF\nx\nEOF\necho {{ ref }}", "after a heredoc (<<)"),
        ("echo \\{{ ref }}", "right after a backslash"),
        ('echo "\\{{ ref }}"', "right after a backslash"),
    ],
)
def test_shell_refuses_a_template_where_it_cannot_quote_it(command: str, where: str) -> None:
    with pytest.raises(RenderError) as info:
        render_shell(command, ctx())
    assert f"cannot stand {where};" in str(info.value)
    assert "REF={{ ref }}" in str(info.value)


def test_shell_refuses_blocks() -> None:
    with pytest.raises(RenderError, match="blocks cannot be used with shell: true"):
        render_shell("{% if deleted %}rm -rf site{% endif %}", ctx())


def test_shell_names_a_missing_attribute() -> None:
    with pytest.raises(RenderError, match="'repository' has no attribute 'fullname'"):
        render_shell("echo {{ repository.fullname }}", ctx())


def test_shell_refuses_an_empty_command_and_nul_values() -> None:
    with pytest.raises(RenderError, match="the command is empty"):
        render_shell(" \n", ctx())
    with pytest.raises(RenderError, match="NUL byte"):
        render_shell("echo {{ ref }}", ctx(ref="a\0b"))


def test_shell_renders_values_like_text() -> None:
    _, env = render_shell("echo {{ deleted }} {{ sender }} {{ nothing }}", ctx())
    assert env == {"HOOKD_T0": "false", "HOOKD_T1": '{"login": "alice"}', "HOOKD_T2": ""}


SHELLS = [shell for shell in ("sh", "bash") if shutil.which(shell)]


@pytest.mark.skipif(not SHELLS, reason="needs a POSIX shell")
@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("value", HOSTILE)
def test_a_real_shell_receives_hostile_values_intact(
    shell: str, value: str, tmp_path: Path
) -> None:
    command = (
        "printf '[%s]\\n' {{ ref }} \"x {{ ref }} y\" \"$(printf '%s' {{ ref }})\"\n"
        "# it's a comment with {{ ref }}\n"
        'v={{ ref }}; printf "<%s>\\n" "$v"'
    )
    script, env = render_shell(command, ctx(ref=value))
    (tmp_path / "file-a").touch()
    result = subprocess.run(
        [shell, "-c", script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"[{value}]\n[x {value} y]\n[{value}]\n<{value}>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file-a"]


# --- config checks ------------------------------------------------------------------------


def test_check_command() -> None:
    check_command("./deploy.sh {{ repository.full_name }}")
    check_command(["./deploy.sh", "{{ ref }}"])
    check_command('echo "{{ ref }}"', shell=True)
    with pytest.raises(RenderError, match="unexpected '}'"):
        check_command("./deploy.sh {{ ref } }")
    with pytest.raises(RenderError, match="a quote is not closed"):
        check_command("./deploy.sh 'x")
    with pytest.raises(RenderError, match="inside single quotes"):
        check_command("echo '{{ ref }}'", shell=True)
    with pytest.raises(RenderError, match="must be a string"):
        check_command(["echo", "x"], shell=True)
