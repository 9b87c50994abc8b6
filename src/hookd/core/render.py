"""The sandboxed template engine for `run:`, `if:` and the other templated settings.

Templates are Jinja2 in an immutable sandbox with strict undefined: a payload value is only
ever data. It is never parsed as a template, never split into words and never written into a
shell script, so a branch named `$(rm -rf ~)` stays that string.

Names in a template: the payload's top-level keys (`{{ repository.full_name }}`), `payload`
(the whole payload, for keys that are not identifiers) and what the caller adds, such as the
`hookd` namespace. Jinja's globals (`range`, `cycler`, `lipsum`...) are removed. Filters added
to Jinja's own: `branch` (`refs/heads/main` -> `main`), `tag` (`refs/tags/v1` -> `v1`), `short`
(a sha's first 7 characters, or `short(n)`) and `tojson` (plain JSON, `tojson(indent=2)`).

What `{{ }}` prints: text as is, numbers, `true`/`false`, null as an empty string (as GitHub
Actions does), lists and objects as JSON. Anything else (a method, `self`) is an error.
"""

from __future__ import annotations

import json
import re
import shlex
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from typing import Any
from urllib.parse import quote

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, nodes
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from hookd.core.arguments import option_sentence, option_word, starts_a_shell_word
from hookd.errors import HookdError


class RenderError(HookdError, ValueError):
    """A template or expression cannot be compiled or rendered; the message is a sentence."""


class _Lookup(str):
    """Jinja's message for a failed lookup, carrying what was looked up so it can be named."""

    obj: Any
    name: Any

    def __new__(cls, message: str, obj: Any, name: Any) -> _Lookup:
        self = super().__new__(cls, message)
        self.obj = obj
        self.name = name
        return self


class _Undefined(StrictUndefined):
    """Strict undefined whose lookup failures reach `_detail`, which names the object."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        message: str = super()._undefined_message
        if self._undefined_hint or self._undefined_obj is missing:
            return message
        return _Lookup(message, self._undefined_obj, self._undefined_name)


def _fail_if_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        str(value)  # a strict undefined raises here, with the name it lacks


def _text(value: Any, filter_name: str) -> str:
    """`value` as a string for a filter; an undefined value fails naming itself."""
    _fail_if_undefined(value)
    if not isinstance(value, str):
        kind = "null" if value is None else type(value).__name__
        raise ValueError(f"the {filter_name} filter takes text, not {kind}")
    return value


def _ref_name(value: Any, prefix: str, kind: str) -> str:
    ref = _text(value, kind)
    if ref.startswith(prefix):
        return ref[len(prefix) :]
    if ref.startswith("refs/"):
        raise ValueError(f"{ref!r} is not a {kind} ref")
    # Some events already give the short name (GitHub's create/delete, GitLab's merge requests).
    return ref


def _short(value: Any, length: int = 7) -> str:
    """The first `length` characters of a commit sha, as git abbreviates it."""
    return _text(value, "short")[:length]


def _json_default(value: Any) -> Any:
    _fail_if_undefined(value)
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


def _json(value: Any, indent: int | None = None) -> str:
    """Plain JSON, unlike Jinja's HTML-escaping `tojson`: payload text reaches commands intact."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _finalize(value: Any) -> str:
    """What `{{ }}` prints: payload data only, JSON-like, so `self` or a method never leaks."""
    _fail_if_undefined(value)
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return _json(value)
    raise TypeError(
        f"cannot print a {type(value).__name__}: only text, numbers, booleans, null, "
        "lists and objects"
    )


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, reading a payload key before a method of the same name."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        # An attribute of a missing name fails naming it, not as an unsafe `_Undefined.__init__`.
        _fail_if_undefined(obj)
        # `{{ data.items }}` must read a payload key named `items`, not the dict's method.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


_ENV = _Sandbox(
    undefined=_Undefined,
    autoescape=False,
    keep_trailing_newline=True,
    finalize=_finalize,
)
_ENV.globals.clear()
_ENV.filters.update(
    branch=partial(_ref_name, prefix="refs/heads/", kind="branch"),
    tag=partial(_ref_name, prefix="refs/tags/", kind="tag"),
    short=_short,
    tojson=_json,
)


def template_context(payload: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The names a template sees: the payload's top-level keys, `payload`, then `extra`.

    Later names win: `payload` is always the whole payload, and `extra` (e.g. `{"hookd":
    {"event": ..., "delivery": ...}}`) is never shadowed by a payload key.
    """
    return {**payload, "payload": payload, **extra}


@lru_cache(maxsize=1024)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


@lru_cache(maxsize=1024)
def _compile_expression(source: str) -> TemplateExpression:
    if source.lstrip().startswith("{{"):
        raise ValueError("write the expression without {{ }}, e.g. ref == 'refs/heads/main'")
    return _ENV.compile_expression(source, undefined_to_none=False)


def _quote(source: str) -> str:
    return repr(source if len(source) <= 80 else source[:77] + "...")


def _step(path: str, key: Any) -> str:
    if isinstance(key, str) and key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path or 'payload'}[{key!r}]"


def _locate(target: object, context: Mapping[str, Any] | None) -> str | None:
    """The shortest expression reaching `target` (by identity) from the context's names."""
    queue = deque((name, value) for name, value in (context or {}).items() if name.isidentifier())
    seen: set[int] = set()
    while queue:
        path, value = queue.popleft()
        if value is target:
            return path
        if not isinstance(value, Mapping | list) or id(value) in seen:
            continue
        seen.add(id(value))
        children = value.items() if isinstance(value, Mapping) else enumerate(value)
        queue.extend((_step(path, key), child) for key, child in children)
    return None


def _detail(exc: Exception, context: Mapping[str, Any] | None) -> str:
    """The sentence for `exc`, naming the object of a failed lookup when it can be found."""
    if isinstance(exc, TemplateSyntaxError):
        return f"{(exc.message or 'syntax error').rstrip('.')} (line {exc.lineno})"
    lookup = exc.args[0] if exc.args else None
    # Only containers are located: identity of a str or None says nothing about where it is.
    if isinstance(lookup, _Lookup):
        where = _locate(lookup.obj, context) if isinstance(lookup.obj, Mapping | list) else None
        what = "attribute" if isinstance(lookup.name, str) else "element"
        if where is not None:
            return f"{where!r} has no {what} {lookup.name!r}"
        if lookup.obj is None:
            return f"null has no {what} {lookup.name!r}"
    return str(exc).rstrip(".") or type(exc).__name__


@contextmanager
def _translated(kind: str, source: str, context: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Turn any failure into a RenderError quoting `source`.

    Everything is caught: a template can call into Python (`'x'.encode('nope')`), so any
    exception is the template's failure, and the job records the sentence.
    """
    try:
        yield
    except RenderError:
        raise
    except Exception as exc:
        raise RenderError(f"{kind} {_quote(source)}: {_detail(exc, context)}") from exc


def syntax_tree(source: str, *, expression: bool = False) -> nodes.Node:
    """The parsed template, or `if:` expression, for analysis; RenderError if it has none."""
    with _translated("expression" if expression else "template", source):
        if expression:
            _compile_expression(source)
            return Parser(_ENV, source, state="variable").parse_expression()
        return _ENV.parse(source)


def check_template(source: str) -> None:
    """Raise RenderError if `source` is not a valid template (syntax only; for config checks)."""
    with _translated("template", source):
        _compile(source)


def check_expression(source: str) -> None:
    """Raise RenderError if `source` is not a valid `if:` expression (syntax only)."""
    with _translated("expression", source):
        _compile_expression(source)


def render_text(source: str, context: Mapping[str, Any]) -> str:
    """Render `source` against `context`; a missing name raises a RenderError naming it."""
    with _translated("template", source, context):
        return _compile(source).render(context)


_URL_ENV = _ENV.overlay(finalize=lambda value: quote(_finalize(value), safe=""))


@lru_cache(maxsize=256)
def _compile_url(source: str) -> Template:
    return _URL_ENV.from_string(source)


def render_url(source: str, context: Mapping[str, Any]) -> str:
    """Render a URL template: each `{{ }}` prints its value percent-encoded (`/`, `?`, `#`,
    `@` and `&` too), so a value is one path segment or query value, never more."""
    with _translated("template", source, context):
        return _compile_url(source).render(context)


def evaluate(expression: str, context: Mapping[str, Any]) -> bool:
    """The truth of an `if:` expression such as `ref == 'refs/heads/main' and not deleted`.

    A missing name raises a RenderError naming it; it is never taken as false.
    """
    with _translated("expression", expression, context):
        return bool(_compile_expression(expression)(context))


_PLACEHOLDER = re.compile("\0([0-9]+)\0")


def _protect(command: str) -> tuple[str, list[str]]:
    """`command` with each `{{ }}`, `{% %}`, `{# #}` and raw block swapped for a NUL-delimited
    placeholder, so that shell quoting applies around templates but never inside them."""
    text: list[str] = []
    spans: list[str] = []
    span: list[str] | None = None
    closer = ""
    for _, kind, value in _ENV.lex(command):
        if span is None and kind.endswith("_begin"):
            span, closer = [], kind.removesuffix("_begin") + "_end"
        if span is None:
            text.append(value)
            continue
        span.append(value)
        if kind == closer:
            text.append(f"\0{len(spans)}\0")
            spans.append("".join(span))
            span = None
    if span is not None:  # an unclosed tag: kept whole so its word fails to compile
        text.append(f"\0{len(spans)}\0")
        spans.append("".join(span))
    return "".join(text), spans


_SHLEX_MESSAGES = {
    "No closing quotation": "a quote is not closed",
    "No escaped character": "it ends with a lone backslash",
}


@lru_cache(maxsize=1024)
def _split(command: str) -> tuple[str, ...]:
    """The words of `command` by POSIX shell quoting, each a template still to render."""
    if "\0" in command:
        raise ValueError("it contains a NUL byte")
    protected, spans = _protect(command)
    try:
        words = shlex.split(protected)
    except ValueError as exc:
        raise ValueError(_SHLEX_MESSAGES.get(str(exc), str(exc))) from exc
    return tuple(_PLACEHOLDER.sub(lambda m: spans[int(m[1])], word) for word in words)


def _words(command: str | Sequence[str]) -> tuple[str, ...]:
    if isinstance(command, str):
        with _translated("command", command):
            words = _split(command)
    else:
        words = tuple(command)
    if not words:
        raise RenderError("the command is empty")
    return words


def check_command(command: str | Sequence[str], *, shell: bool = False) -> None:
    """Raise RenderError if `run:` cannot be rendered whatever the payload (for config checks)."""
    if shell:
        if not isinstance(command, str):
            raise RenderError("a shell: true command must be a string, not a list of words")
        _shell_plan(command)
        return
    for word in _words(command):
        check_template(word)


def command_templates(command: str | Sequence[str], *, shell: bool = False) -> tuple[str, ...]:
    """The templates `run:` renders: a shell command whole, else each of its words."""
    return (command,) if shell and isinstance(command, str) else _words(command)


def render_argv(command: str | Sequence[str], context: Mapping[str, Any]) -> tuple[str, ...]:
    """The argv to run for `command`, without a shell.

    A string is split into words by POSIX shell quoting first (`./deploy.sh "{{ ref }}"` is
    two words), then each word is rendered; a list is taken as the words. A rendered value
    is never split or interpreted again: `a b; rm -rf ~` stays one argument. Quotes only
    group words (a template in single quotes is rendered too), and a `{% %}` block must
    open and close within one word. A value that would start an option the command's own
    text did not (core.arguments) is a RenderError.
    """
    label = command if isinstance(command, str) else shlex.join(command)
    words = _words(command)
    argv = tuple(_render_word(word, label, context) for word in words)
    if not argv[0]:
        raise RenderError(f"command {_quote(label)}: the program name renders empty")
    found = option_word(words, argv)
    if found is not None:
        raise RenderError(option_sentence(_quote(label), words[found], argv[found]))
    return argv


def _render_word(word: str, label: str, context: Mapping[str, Any]) -> str:
    with _translated("command", label, context):
        value = _compile(word).render(context)
    return _without_nul(value, label)


def _without_nul(value: str, label: str) -> str:
    # execve() cannot pass a NUL in an argument or a variable: fail here, with a sentence.
    if "\0" in value:
        raise RenderError(f"command {_quote(label)}: a value contains a NUL byte")
    return value


# render_shell follows the shell's quoting through the command's literal text, to write each
# {{ }} as a variable quoted for where it stands. Frames: code ("plain", "sub" for $( ) and
# ( ), "brace" for ${ }, "tick" for backticks), "double", "single", "ansi" for $'...',
# "comment", "escape" when the text ends in a backslash that quotes what follows, and
# "heredoc", after which it cannot follow the shell and stops.
_CLOSERS = dict(sub=")", brace="}", tick="`", double='"', single="'", ansi="'", comment="\n")
_OPENERS = {"$(": "sub", "${": "brace", "$'": "ansi", "'": "single", '"': "double", "(": "sub"}
_WORD_BREAKS = " \t\n;&|()<>"
_REFUSED = {
    "single": "inside single quotes",
    "ansi": "inside $'...'",
    "tick": "inside backticks",
    "brace": "inside ${...}",
    "heredoc": "after a heredoc (<<)",
    "escape": "right after a backslash",
}


def _scan(text: str, stack: list[str], before: str) -> None:
    """Advance the quoting `stack` over literal script text; `before` is the preceding char."""
    i = 0
    if stack[-1] == "escape":
        stack.pop()
        i = 1
    while i < len(text) and stack[-1] != "heredoc":
        frame, char, pair = stack[-1], text[i], text[i : i + 2]
        before, i = (text[i - 1] if i else before), i + 1
        if char == _CLOSERS.get(frame):
            stack.pop()
        elif frame in ("single", "comment"):
            continue
        elif char == "\\":
            if i == len(text):
                stack.append("escape")
            i += 1  # the next character is quoted
        elif frame == "ansi":
            continue
        elif pair in ("$(", "${") or char == "`":
            stack.append(_OPENERS.get(pair, "tick"))
            i += len(pair) - 1 if char == "$" else 0
        elif frame == "double":
            continue
        elif pair == "$'" or char in "'\"(":
            stack.append(_OPENERS[pair if pair == "$'" else char])
            i += pair == "$'"
        elif char == "#" and before in _WORD_BREAKS:
            stack.append("comment")
        elif pair == "<<":
            if text[i + 1 : i + 2] == "<":
                i += 2  # a here-string: one ordinary word follows
            else:
                stack.append("heredoc")


@lru_cache(maxsize=1024)
def _shell_plan(command: str) -> tuple[str, tuple[tuple[str, Template, str, bool], ...]]:
    """The script for a shell: true `command`, and for each HOOKD_T<n> its template, the
    template's text, and whether its value starts a word (where a leading `-` would make
    it an option).

    The script depends on the command alone, so no payload byte can be in it.
    """
    if not command.strip():
        raise RenderError("the command is empty")
    with _translated("command", command):
        body = _ENV.parse(command).body
    script: list[str] = []
    values: list[tuple[str, Template, str, bool]] = []
    expressions = [span for span in _protect(command)[1] if span.startswith("{{")]
    stack = ["plain"]
    for node in body:
        if not isinstance(node, nodes.Output):
            raise RenderError(
                f"command {_quote(command)}: {{% %}} blocks cannot be used with shell: true; "
                "use the shell's own if and for"
            )
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                _scan(child.data, stack, script[-1][-1:] if script else "\n")
                script.append(child.data)
                continue
            name = f"HOOKD_T{len(values)}"
            frame = stack[-1]
            opens = frame in ("plain", "sub", "double") and starts_a_shell_word(
                "".join(script), in_double_quotes=frame == "double"
            )
            script.append(_shell_word(command, frame, name))
            with _translated("command", command):
                template = _ENV.from_string(nodes.Template([nodes.Output([child])]))
            values.append((name, template, expressions[len(values)], opens))
    return "".join(script), tuple(values)


def _shell_word(command: str, frame: str, name: str) -> str:
    """How the script reads variable `name` where the shell's quoting is in `frame`."""
    if frame == "double":
        return f"${{{name}}}"
    if frame in ("plain", "sub", "comment"):
        # Double-quoted, so the shell neither splits the value into words nor globs it.
        return f'"${{{name}}}"'
    raise RenderError(
        f"command {_quote(command)}: with shell: true, {{{{ }}}} cannot stand {_REFUSED[frame]}; "
        'assign it to a variable before that point (REF={{ ref }}) and use "$REF" there'
    )


def render_shell(command: str, context: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The script and extra environment for a `shell: true` command.

    Each `{{ expr }}` becomes a reference to a variable HOOKD_T0, HOOKD_T1... in order:
    `"${HOOKD_T0}"` outside quotes, `${HOOKD_T0}` inside double quotes; its rendered value
    goes in the returned environment. Payload values thus reach the shell only as variable
    values, which the shell never parses as code. Where the quoting cannot be followed
    (single quotes, backticks, `${ }`, after a heredoc) and for `{% %}` blocks, RenderError.
    A value that starts a word must not start with `-` unless a `--` word came before it in
    its command, as for `run:` without a shell.
    """
    script, values = _shell_plan(command)
    env: dict[str, str] = {}
    for name, template, written, opens in values:
        with _translated("command", command, context):
            value = _without_nul(template.render(context), command)
        if opens and value.startswith("-"):
            raise RenderError(option_sentence(_quote(command), written, value))
        env[name] = value
    return script, env
