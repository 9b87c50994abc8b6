"""What a template or `if:` expression can read of a payload, found in its syntax tree, and
the `Reads` trees that hold it."""

from __future__ import annotations

import pytest

from hookd.core.payload_reads import EACH, Reads
from hookd.core.render import RenderError
from hookd.core.template_reads import expression_reads, template_reads

WHOLE = Reads.everything()


def keys(**reads: Reads) -> Reads:
    return Reads(keys=reads)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("ref == 'refs/heads/main'", keys(ref=WHOLE)),
        ("repository.owner.login", keys(repository=keys(owner=keys(login=WHOLE)))),
        ("payload['pull-request'].number", Reads(keys={"pull-request": keys(number=WHOLE)})),
        ("payload.ref and ref", keys(ref=WHOLE)),
        ("commits[0].id", keys(commits=Reads(keys={0: keys(id=WHOLE)}))),
        # A method reads its object whole, whatever the method.
        ("ref.startswith('refs/tags/')", keys(ref=WHOLE)),
        ("repository.keys() | list", keys(repository=WHOLE)),
        ("repository.owner.items()", keys(repository=keys(owner=WHOLE))),
        # A filter, a test or an operator reads its operand whole.
        ("commits | length > 1", keys(commits=WHOLE)),
        ("'main' in ref", keys(ref=WHOLE)),
        ("head_commit is mapping", keys(head_commit=WHOLE)),
        # A computed key reads the object whole, and reads what computes it.
        ("repository[key]", keys(repository=WHOLE, key=WHOLE)),
        ("payload[hookd.event]", WHOLE),
        ("payload", WHOLE),
        ("payload | tojson", WHOLE),
        ("true", Reads()),
    ],
)
def test_expression_reads(expression: str, expected: Reads) -> None:
    assert expression_reads(expression) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{{ repository.full_name }}-{{ ref | branch }}",
            keys(repository=keys(full_name=WHOLE), ref=WHOLE),
        ),
        # A loop reads what it walks whole; its variable is read as a name too, harmlessly.
        (
            "{% for c in commits %}{{ c.id }}{% endfor %}",
            keys(commits=WHOLE, c=keys(id=WHOLE)),
        ),
        # What a name is set to is read whole, so the alias reads nothing more of it.
        (
            "{% set r = payload.repository %}{{ r.name }}",
            keys(repository=WHOLE, r=keys(name=WHOLE)),
        ),
        ("{% set p = payload %}{{ p.x }}", WHOLE),
        ("plain text", Reads()),
    ],
)
def test_template_reads(template: str, expected: Reads) -> None:
    assert template_reads(template) == expected


def test_a_template_that_does_not_parse_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="expression"):
        expression_reads("ref ==")
    with pytest.raises(RenderError, match="template"):
        template_reads("{{ ref ")


def test_reads_join_paths_and_widen_to_whole() -> None:
    reads = Reads.of([("a", "b"), ("a", "c"), ("l", EACH, "x"), ("l", EACH, "y")])
    assert reads == keys(a=keys(b=WHOLE, c=WHOLE), l=Reads(each=keys(x=WHOLE, y=WHOLE)))
    assert reads.union(Reads.of([("a",)])) == keys(a=WHOLE, l=Reads(each=keys(x=WHOLE, y=WHOLE)))
    assert Reads.of([("a",), ()]) == WHOLE
    assert Reads.of([]) == Reads() != WHOLE
