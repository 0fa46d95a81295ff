"""The dial file: CSV rows in, :class:`Call` values (or bad rows) out; outcomes as JSON lines.

Pure: it reads any iterable of text lines (an open file, a list) and never
opens, sleeps or sends anything, so ``laaffic-async dial`` is a thin shell
over it and every rule here is tested without a server.

Layout: a header row is recognised when its cells name known columns
(``callee``, ``account``, ``calledInfo``, ``displayNum``, ``appId``, ``ref``, in any
case, with or without ``_``/``-``/spaces; ``number`` and ``phone`` mean
``callee``); other columns are ignored.  Without a header the columns are
``callee, account, calledInfo, displayNum`` by position.  Blank rows and
rows starting with ``#`` are skipped.  A row that breaks a rule of the
sendSip page is a :class:`BadRow` with its line number, never a call.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ..errors import ApiError, LaafficError, OutcomeUnknownError, RequestValidationError
from ..models import Call, CallOutcome

__all__ = ["BadRow", "Columns", "DialRow", "detect_columns", "outcome_record", "read_dial_file"]

# Normalised header spelling -> Call field.
_ALIASES = {
    "callee": "callee",
    "number": "callee",
    "phone": "callee",
    "account": "account",
    "calledinfo": "called_info",
    "displaynum": "display_num",
    "appid": "app_id",
    "ref": "ref",
}
_POSITIONAL = ("callee", "account", "called_info", "display_num")


@attrs.frozen
class Columns:
    """Which cell holds which field (``None``: the file has no such column)."""

    callee: int = 0
    account: int | None = 1
    called_info: int | None = 2
    display_num: int | None = 3
    app_id: int | None = None
    ref: int | None = None


@attrs.frozen
class DialRow:
    """A row that became a valid call; ``line`` is its line in the file (1-based)."""

    line: int
    call: Call


@attrs.frozen
class BadRow:
    """A row that cannot be dialed, and why (``message`` names the field and rule)."""

    line: int
    message: str


def _normalise(cell: str) -> str:
    return "".join(ch for ch in cell.strip().lower() if ch not in "_- ")


def detect_columns(cells: list[str]) -> Columns | None:
    """The columns a header row names, or ``None`` if ``cells`` is a data row.

    Raises :class:`RequestValidationError` for a header without a callee
    column or with one field twice: no row of such a file can be trusted.
    """
    names = [_ALIASES.get(_normalise(cell)) for cell in cells]
    if not any(names):
        return None
    found: dict[str, int] = {}
    for position, name in enumerate(names):
        if name is None:
            continue
        if name in found:
            raise RequestValidationError("header", f"names the {name} column twice", cells)
        found[name] = position
    if "callee" not in found:
        raise RequestValidationError("header", "has no callee (or number/phone) column", cells)
    return Columns(
        callee=found["callee"],
        account=found.get("account"),
        called_info=found.get("called_info"),
        display_num=found.get("display_num"),
        app_id=found.get("app_id"),
        ref=found.get("ref"),
    )


def _cell(cells: list[str], position: int | None) -> str | None:
    if position is None or position >= len(cells):
        return None
    value = cells[position].strip()
    return value or None


def _row(
    line: int, cells: list[str], columns: Columns, defaults: dict[str, str | None]
) -> DialRow | BadRow:
    values: dict[str, Any] = {}
    for field in attrs.fields_dict(Columns):
        value = _cell(cells, getattr(columns, field))
        values[field] = value if value is not None else defaults.get(field)
    if values["account"] is None:
        return BadRow(line, "account: is required (add an account column or pass --account)")
    try:
        return DialRow(line, Call(**values))
    except RequestValidationError as exc:
        return BadRow(line, str(exc))


def read_dial_file(
    lines: Iterable[str],
    *,
    account: str | None = None,
    display_num: str | None = None,
    app_id: str | None = None,
) -> Iterator[DialRow | BadRow]:
    """Rows of a dial file, lazily, in file order (see the module docstring).

    ``account``, ``display_num`` and ``app_id`` fill cells that are absent
    or empty.  A bad header raises :class:`RequestValidationError` before
    the first row is yielded.
    """
    defaults = {"account": account, "display_num": display_num, "app_id": app_id}
    reader = csv.reader(lines)
    columns: Columns | None = None
    for cells in reader:
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue
        if columns is None:
            columns = detect_columns(cells)
            if columns is not None:
                continue
            columns = Columns()
        yield _row(reader.line_num, cells, columns, defaults)


def outcome_record(outcome: CallOutcome, line: int | None = None) -> dict[str, Any]:
    """One outcome as a JSON-ready dict (wire spellings, like the API's own fields).

    ``outcome`` is ``placed``, ``failed`` (nothing was dialed) or
    ``unknown`` (the call may have been placed: check the records before
    dialing again).
    """
    call = outcome.call
    record: dict[str, Any] = {"line": line, "callee": call.callee, "account": call.account}
    if call.called_info is not None:
        record["calledInfo"] = call.called_info
    error = outcome.error
    if outcome.ok:
        record.update(outcome="placed", voiceId=outcome.voice_id)
    else:
        unknown = error is None or isinstance(error, OutcomeUnknownError)
        record["outcome"] = "unknown" if unknown else "failed"
        if isinstance(error, LaafficError):
            record["error"] = type(error).__name__
            record["message"] = str(error)
        if isinstance(error, ApiError):
            record["status"] = error.status
    record["attempts"] = outcome.attempts
    return record
