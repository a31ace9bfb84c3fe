"""Single-process union-find: the reference for connected components, and the last step after the Beam rounds."""

from __future__ import annotations

from typing import Hashable, Iterable


def component_roots(edges: Iterable[tuple[Hashable, Hashable]]) -> dict:
    """Every node that appears in `edges`, mapped to the smallest node of its connected component."""
    parent: dict = {}

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for u, v in edges:
        parent.setdefault(u, u)
        parent.setdefault(v, v)
        ru, rv = find(u), find(v)
        if ru != rv:
            # The smaller root wins, so every root is its component's minimum.
            if rv < ru:
                ru, rv = rv, ru
            parent[rv] = ru
    return {node: find(node) for node in parent}
