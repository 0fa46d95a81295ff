"""The sandbox's call-record table: sorted by submit time, paged newest first.

Paging newest first is deliberate (comparable CDR APIs do it, the vendor
pages do not say): every call placed while a client pages through a window
that includes "now" pushes older rows onto later pages, which is the trap a
careless paginator falls into.  ``newest_first=False`` flips it.

Submit times are kept to the whole second, as the wire writes them, so a
second can hold many rows.  Rows of one second come out in insertion order,
or, when :meth:`RecordStore.page` is given a random generator
(``SandboxState(unstable_ties=True)``), in a fresh random order on every
query: what ``ORDER BY submitTime DESC LIMIT/OFFSET`` without a unique
tiebreaker may do on a real database.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import attrs

Row = dict[str, Any]


@attrs.define
class RecordStore:
    """Call records as wire-format dicts, kept sorted by (submit second, insertion order)."""

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
        key = (math.floor(epoch), self._seq)
        index = bisect_right(self._keys, key)
        self._keys.insert(index, key)
        self._rows.insert(index, row)
        self._by_id[row["voiceId"]] = row

    def extend(self, rows: Iterable[tuple[float, Row]]) -> None:
        """Insert many rows at once (one sort, for seeding large tables)."""
        pairs = list(zip(self._keys, self._rows, strict=True))
        for epoch, row in rows:
            self._seq += 1
            pairs.append(((math.floor(epoch), self._seq), row))
            self._by_id[row["voiceId"]] = row
        pairs.sort(key=lambda pair: pair[0])
        self._keys = [key for key, _ in pairs]
        self._rows = [row for _, row in pairs]

    def window(
        self, start: float, end: float, filters: dict[str, str] | None = None
    ) -> Sequence[int]:
        """Indexes of rows with start <= submit second <= end (both inclusive), oldest first.

        Without filters the answer is a ``range`` (no copy), so a window of a
        million rows pages cheaply.
        """
        lo = bisect_left(self._keys, (math.ceil(start), -1))
        hi = bisect_right(self._keys, (math.floor(end), self._seq + 1))
        if not filters:
            return range(lo, hi)
        return [
            index
            for index in range(lo, hi)
            if all(self._rows[index].get(name) == value for name, value in filters.items())
        ]

    def page(
        self,
        selection: Sequence[int],
        current: int,
        size: int,
        shuffle: random.Random | None = None,
    ) -> list[Row]:
        """Page ``current`` (1-based) of ``selection`` in the store's paging order.

        With ``shuffle``, rows of equal submit second are ordered at random,
        afresh for this query (the groups cut by the page's edges included).
        """
        total = len(selection)
        first = (current - 1) * size
        count = max(0, min(size, total - first))
        if count == 0:
            return []
        # Oldest-first positions of the page, then widened to whole seconds when shuffling.
        low = total - first - count if self.newest_first else first
        high = low + count
        if shuffle is None:
            indexes = [selection[p] for p in range(low, high)]
        else:
            lo = self._group_start(selection, low)
            hi = self._group_end(selection, high - 1)
            indexes = []
            for _, group in itertools.groupby(
                (selection[p] for p in range(lo, hi)), key=lambda i: self._keys[i][0]
            ):
                members = list(group)
                shuffle.shuffle(members)
                indexes.extend(members)
            indexes = indexes[low - lo : high - lo]
        if self.newest_first:
            indexes.reverse()
        return [self._rows[index] for index in indexes]

    def _group_start(self, selection: Sequence[int], position: int) -> int:
        second = self._keys[selection[position]][0]
        while position > 0 and self._keys[selection[position - 1]][0] == second:
            position -= 1
        return position

    def _group_end(self, selection: Sequence[int], position: int) -> int:
        second = self._keys[selection[position]][0]
        while position + 1 < len(selection) and self._keys[selection[position + 1]][0] == second:
            position += 1
        return position + 1
