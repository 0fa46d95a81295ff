"""The sandbox's call-record table: sorted by submit time, paged newest first.

Paging newest first is deliberate (comparable CDR APIs do it, the vendor
pages do not say): every call placed while a client pages through a window
that includes "now" pushes older rows onto later pages, which is the trap a
careless paginator falls into.  ``newest_first=False`` flips it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

Row = dict[str, Any]


@attrs.define
class RecordStore:
    """Call records as wire-format dicts, kept sorted by (submit epoch, insertion order)."""

    newest_first: bool = True
    _keys: list[tuple[float, int]] = attrs.field(factory=list, repr=False)
    _rows: list[Row] = attrs.field(factory=list, repr=False)
    _by_id: dict[str, Row] = attrs.field(factory=dict, repr=False)
    _seq: int = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def get(self, voice_id: str) -> Row | None:
        return self._by_id.get(voice_id)

    def add(self, epoch: float, row: Row) -> None:
        """Insert one row (O(n) memmove, fine for live calls)."""
        self._seq += 1
        key = (epoch, self._seq)
        index = bisect_right(self._keys, key)
        self._keys.insert(index, key)
        self._rows.insert(index, row)
        self._by_id[row["voiceId"]] = row

    def extend(self, rows: Iterable[tuple[float, Row]]) -> None:
        """Insert many rows at once (one sort, for seeding large tables)."""
        pairs = list(zip(self._keys, self._rows, strict=True))
        for epoch, row in rows:
            self._seq += 1
            pairs.append(((epoch, self._seq), row))
            self._by_id[row["voiceId"]] = row
        pairs.sort(key=lambda pair: pair[0])
        self._keys = [key for key, _ in pairs]
        self._rows = [row for _, row in pairs]

    def window(
        self, start: float, end: float, filters: dict[str, str] | None = None
    ) -> list[Row] | range:
        """Rows with start <= submit epoch <= end, both ends inclusive, oldest first.

        Without filters the answer is a ``range`` of indexes (no copy), so a
        window of a million rows pages cheaply.
        """
        lo = bisect_left(self._keys, (start, -1))
        hi = bisect_right(self._keys, (end, self._seq + 1))
        if not filters:
            return range(lo, hi)
        return [
            row
            for row in self._rows[lo:hi]
            if all(row.get(name) == value for name, value in filters.items())
        ]

    def page(self, selection: list[Row] | range, current: int, size: int) -> list[Row]:
        """Page ``current`` (1-based) of ``selection`` in the store's paging order."""
        total = len(selection)
        first = (current - 1) * size
        count = max(0, min(size, total - first))
        if self.newest_first:
            positions: Iterable[int] = range(total - 1 - first, total - 1 - first - count, -1)
        else:
            positions = range(first, first + count)
        if isinstance(selection, range):
            return [self._rows[selection[p]] for p in positions]
        return [selection[p] for p in positions]
