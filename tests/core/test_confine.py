"""`cwd:` and `mirror:` paths stay inside the text the config wrote before its first
template."""

from __future__ import annotations

import pytest

from hookd.core.confine import PathEscape, confined_path, literal_prefix

MIRRORS = "/srv/mirrors/{{ repository.full_name }}"


def test_the_literal_prefix_is_the_text_before_the_first_template() -> None:
    assert literal_prefix(MIRRORS) == "/srv/mirrors/"
    assert literal_prefix("/srv/{% if x %}a{% endif %}") == "/srv/"
    assert literal_prefix("{# note #}/srv") == ""
    assert literal_prefix("/srv/site") is None


@pytest.mark.parametrize(
    ("template", "rendered", "expected"),
    [
        (MIRRORS, "/srv/mirrors/octo/site", "/srv/mirrors/octo/site"),
        (MIRRORS, "/srv/mirrors/octo/./site/", "/srv/mirrors/octo/site"),
        ("/srv/site-{{ n }}", "/srv/site-2", "/srv/site-2"),
        ("/srv/site", "/srv/site", "/srv/site"),
        ("{{ hookd.hook }}", "deploy", "deploy"),
    ],
)
def test_paths_inside_the_prefix_pass_normalised(
    template: str, rendered: str, expected: str
) -> None:
    assert confined_path(template, rendered) == expected


@pytest.mark.parametrize(
    ("template", "rendered", "reason"),
    [
        (MIRRORS, "/srv/mirrors/../../../tmp/escaped", "a '..' segment after its first template"),
        (MIRRORS, "/srv/mirrors/octo/..", "a '..' segment after its first template"),
        ("/srv/.{{ x }}", "/srv/../etc", "a '..' segment after its first template"),
        (MIRRORS, "/srv/mirrors//etc", "makes it absolute"),
        ("{{ x }}", "/etc", "makes it absolute"),
        ("/srv/{{ a }}/../b", "/srv/x/../b", "a '..' segment after its first template"),
        ("{{ x }}", "../etc", "a '..' segment after its first template"),
        (MIRRORS, "/srv/mirrors/a\0b", "a NUL byte"),
        ("/srv/{%- if x %}a{% endif %}", "/sr", "does not start with '/srv/'"),
    ],
)
def test_a_path_leaving_the_prefix_fails_with_a_sentence(
    template: str, rendered: str, reason: str
) -> None:
    with pytest.raises(PathEscape) as info:
        confined_path(template, rendered)
    assert reason in str(info.value)
    assert repr(template) in str(info.value)


def test_a_mirror_folder_keeps_a_safe_form_of_the_repository_name() -> None:
    assert confined_path(MIRRORS, "/srv/mirrors/octo/site.git", safe_names=True) == (
        "/srv/mirrors/octo/site.git"
    )
    assert confined_path(MIRRORS, "/srv/mirrors/oc to/s\u00efte;$(x)", safe_names=True) == (
        "/srv/mirrors/oc_to/s_te___x_"
    )
