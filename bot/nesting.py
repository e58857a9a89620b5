"""How deeply nested a parsed JSON value is, found without recursion (a hostile body must not exhaust the stack)."""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 64  # levels of objects and arrays a request body may have; Slack's and Teams' deepest are about ten


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` (dicts and lists, as json.loads makes them) nests more than ``limit`` levels."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return False
