"""BatchOptions: how a batch of calls runs, validated before anything starts."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypedDict, cast

import attrs

from .._core import validators as v
from ..errors import RequestValidationError
from .limits import positive_rate
from .progress import BatchProgress

__all__ = ["BatchKeywords", "BatchOptions", "ProgressSink", "split_keywords"]

#: Where a batch's running counts go: a BatchProgress to update, or a callback.
ProgressSink = BatchProgress | Callable[[BatchProgress], object]

#: The most requests one batch may keep in flight (a bound, not a recommendation).
MAX_CONCURRENCY = v.DIAL_CONCURRENCY_MAX


class BatchKeywords(TypedDict, total=False):
    """The keywords of :meth:`AsyncClient.send_many` and :meth:`AsyncClient.batch`.

    Declared once, here; defaults and rules live in :class:`BatchOptions` (a test keeps the
    two in step). ``progress`` is not an option of the run but where its counts go.
    """

    concurrency: int
    calls_per_second: float | None
    retry_busy: bool
    busy_timeout: float
    busy_delay: float
    one_per_account: bool
    ordered: bool
    lookahead: int | None
    progress: ProgressSink | None


def _non_negative(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise RequestValidationError(field, "must be a number >= 0", value)
    if not math.isfinite(value):
        raise RequestValidationError(field, "must be finite", value)
    return float(value)


def _boolean(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise RequestValidationError(field, "must be True or False", value)
    return value


@attrs.frozen
class BatchOptions:
    """How a batch runs; validated when built (see :meth:`AsyncClient.send_many`).

    ``lookahead`` bounds how many calls are read from the input and not yet
    handed to the consumer (default four times ``concurrency``): it is what
    keeps memory flat, and in ordered mode it bounds the reorder buffer.
    """

    concurrency: int = 50
    calls_per_second: float | None = None
    retry_busy: bool = True
    busy_timeout: float = 300.0
    busy_delay: float = 1.0
    one_per_account: bool = True
    ordered: bool = False
    lookahead: int | None = None

    def __attrs_post_init__(self) -> None:
        v.concurrency("concurrency", self.concurrency, MAX_CONCURRENCY)
        if self.calls_per_second is not None:
            positive_rate("calls_per_second", self.calls_per_second)
        _boolean("retry_busy", self.retry_busy)
        _non_negative("busy_timeout", self.busy_timeout)
        positive_rate("busy_delay", self.busy_delay)
        _boolean("one_per_account", self.one_per_account)
        _boolean("ordered", self.ordered)
        if self.lookahead is not None:
            v.concurrency("lookahead", self.lookahead, v.BUFFER_MAX)
            if self.lookahead < self.concurrency:
                raise RequestValidationError(
                    "lookahead",
                    f"must be at least concurrency ({self.concurrency})",
                    self.lookahead,
                )

    @property
    def window(self) -> int:
        """The effective look-ahead."""
        return self.lookahead if self.lookahead is not None else 4 * self.concurrency

    def check_pool(self, pool_size: int | None) -> None:
        """Refuse a concurrency the connection pool would cap silently (None: unknown pool)."""
        if pool_size is not None and self.concurrency > pool_size:
            raise RequestValidationError(
                "concurrency",
                f"exceeds the connection pool (max_connections={pool_size}), which would "
                "cap it silently; pass AsyncClient(max_connections=...) or concurrency=...",
                self.concurrency,
            )


def split_keywords(options: BatchKeywords) -> tuple[BatchOptions, ProgressSink | None]:
    """The validated :class:`BatchOptions` of ``options``, and where progress goes."""
    rest = dict(options)
    progress = cast("ProgressSink | None", rest.pop("progress", None))
    return BatchOptions(**cast(Any, rest)), progress
