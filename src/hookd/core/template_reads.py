"""The parts of a payload a template or `if:` expression can read, found in its syntax tree.

A template sees the payload's top-level keys as names and the whole payload as `payload`
(render.template_context). A chain of constant lookups on a name (`repository.owner.login`,
`payload['pull-request'].number`) reads the value it ends at, whole; anything else done with
a value (a method call, a filter, a loop, a computed index) reads the value it is done with,
whole. So the reads found are never fewer than those made, whatever the payload holds.
"""

from __future__ import annotations

from jinja2 import nodes

from hookd.core.payload_reads import Reads, Step
from hookd.core.render import syntax_tree


def template_reads(source: str) -> Reads:
    """What rendering `source` can read of the payload."""
    return _reads(syntax_tree(source))


def expression_reads(source: str) -> Reads:
    """What evaluating the `if:` expression `source` can read of the payload."""
    return _reads(syntax_tree(source, expression=True))


def _reads(tree: nodes.Node) -> Reads:
    paths: list[tuple[Step, ...]] = []
    _collect(tree, paths)
    return Reads.of(paths)


def _collect(node: nodes.Node, paths: list[tuple[Step, ...]]) -> None:
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr | nodes.Getitem):
        # A method reads its object whole: `repository.keys()`, `ref.startswith('v')`.
        for child in node.node.iter_child_nodes():
            _collect(child, paths)
        for child in node.iter_child_nodes(exclude=("node",)):
            _collect(child, paths)
        return
    chain = _chain(node)
    if chain is not None:
        name, steps = chain
        paths.append(steps if name == "payload" else (name, *steps))
        return
    for child in node.iter_child_nodes():
        _collect(child, paths)


def _chain(node: nodes.Node) -> tuple[str, tuple[Step, ...]] | None:
    """`(name, steps)` when `node` is a name followed by constant lookups, read as a value."""
    steps: list[Step] = []
    while True:
        if isinstance(node, nodes.Getattr):
            steps.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and _constant_key(node.arg):
            steps.append(node.arg.value)  # type: ignore[attr-defined]
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            return node.name, tuple(reversed(steps))
        else:
            return None


def _constant_key(node: nodes.Node) -> bool:
    value = node.value if isinstance(node, nodes.Const) else None
    return isinstance(value, str | int) and not isinstance(value, bool)
