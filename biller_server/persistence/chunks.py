"""Many values asked for, or written, a bounded number at a time: one ``IN (...)`` list or executemany each."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

Value = TypeVar("Value")

# Well below SQLite's limit on bound parameters in one statement (999 before SQLite 3.32).
IN_LIST_SIZE = 500


def in_chunks(values: Sequence[Value], size: int = IN_LIST_SIZE) -> Iterator[Sequence[Value]]:
    """``values`` cut into consecutive slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]
