"""A `forward:` URL posts where the config's own text says: templates only in the path and
the query, their values percent-encoded, and the rendered URL checked again."""

from __future__ import annotations

import pytest

from hookd.core.forward_url import ForwardUrlError, check_forward_url, checked_forward_url
from hookd.core.render import render_url, template_context

SSRF_LOGIN = "127.0.0.1:18099/ssrf?"


@pytest.mark.parametrize(
    "url",
    [
        "http://{{ repository.owner.login }}.hooks.example/x",
        "http://hooks.example{{ x }}/x",
        "http://hooks.example:{{ port }}/x",
        "https://{{ host }}",
        "{{ url }}",
        "http://user:{{ password }}@hooks.example/x",
    ],
)
def test_a_template_before_the_path_is_refused(url: str) -> None:
    with pytest.raises(ForwardUrlError, match="the scheme, host and port must be written out"):
        check_forward_url(url)


@pytest.mark.parametrize("url", ["ftp://hooks.example/x", "hooks.example/x", "http:///x"])
def test_a_url_that_is_not_http_with_a_host_is_refused(url: str) -> None:
    with pytest.raises(ForwardUrlError, match="is not an http:// or https:// URL with a host"):
        check_forward_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/x/{{ repository.name }}",
        "https://hooks.example:8443/?repo={{ repository.name }}",
        "https://hooks.example",
        "http://127.0.0.1:9000/hooks/github",
    ],
)
def test_templates_in_the_path_and_query_pass(url: str) -> None:
    check_forward_url(url)


def test_values_are_percent_encoded_so_they_stay_in_their_place() -> None:
    context = template_context({"login": SSRF_LOGIN, "q": "a&b=c#d@e"}, {})
    url = render_url("http://hooks.example/u/{{ login }}?q={{ q }}", context)
    assert url == "http://hooks.example/u/127.0.0.1%3A18099%2Fssrf%3F?q=a%26b%3Dc%23d%40e"
    assert checked_forward_url("http://hooks.example/u/{{ login }}?q={{ q }}", url) == url


@pytest.mark.parametrize(
    ("template", "rendered", "reason"),
    [
        ("http://a.example/{{ x }}", "http://b.example/", "which leaves 'http://a.example/'"),
        ("http://a.example/{{ x }}", "http://a.example/..", "a '.' or '..' path segment"),
        ("http://a.example/x/{{ x }}/y", "http://a.example/x/./y", "a '.' or '..' path segment"),
    ],
)
def test_a_rendered_url_off_the_configs_origin_fails(
    template: str, rendered: str, reason: str
) -> None:
    with pytest.raises(ForwardUrlError, match=reason.replace(".", r"\.")):
        checked_forward_url(template, rendered)
