"""The dial file: CSV rows in, :class:`Call` values (or bad rows) out; outcomes as JSON lines.

Pure: it reads any iterable of lines, as bytes (a file opened in binary,
stdin's buffer) or text (a list), and never opens, sleeps or sends
anything, so ``laaffic-async dial`` is a thin shell over it and every rule
here is tested without a server.

Layout: a header row is recognised when its cells name known columns
(``callee``, ``account``, ``calledInfo``, ``displayNum``, ``appId``, ``ref``, in any
case, with or without ``_``/``-``/spaces; ``number`` and ``phone`` mean
``callee``); other columns are ignored.  Without a header the columns are
``callee, account, calledInfo, displayNum`` by position; a first row that
names no known column and whose first cell is not a phone number is an
unrecognised header, refused.  Blank rows and rows starting with ``#`` are
skipped.  A row that breaks a rule of the sendSip page, or a line that is
not UTF-8, is a :class:`BadRow` with its line number, never a call; the
rows after it are read as usual.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from typing import Any

import attrs

from ..errors import ApiError, LaafficError, OutcomeUnknownError, RequestValidationError
from ..models import Call, CallOutcome

__all__ = [
    "BadRow",
    "Columns",
    "DialRow",
    "count_rows",
    "detect_columns",
    "outcome_record",
    "read_dial_file",
]

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
# What a first cell looks like when the first row is data (a number, maybe written
# +91 98-765 or empty): anything else there is a header naming no known column.
_NUMBER_LIKE = re.compile(r"[\d\s+()\-.]*")
_BOM = b"\xef\xbb\xbf"


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
    column, with one field twice, or naming no known column (a first cell
    that is not a phone number): no row of such a file can be trusted.
    """
    names = [_ALIASES.get(_normalise(cell)) for cell in cells]
    if not any(names):
        if not _NUMBER_LIKE.fullmatch(cells[0] if cells else ""):
            raise RequestValidationError(
                "header",
                "names no known column (callee or number/phone, account, calledInfo, "
                "displayNum, appId)",
                cells,
            )
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


def _decoded(lines: Iterable[str | bytes], bad: dict[int, str]) -> Iterator[str]:
    """Text lines; the line number of one that is not UTF-8, and why, go to ``bad``.

    One item per physical line, so the csv reader's line numbers stay true.
    """
    for number, line in enumerate(lines, start=1):
        if isinstance(line, str):
            yield line
            continue
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad[number] = (
                f"is not UTF-8 text (byte 0x{line[exc.start]:02x} at column {exc.start + 1})"
            )
            # Decoded anyway (U+FFFD for the bad bytes) so quoting, and with it
            # the rows after this one, still parse as written.
            yield line.decode("utf-8", "replace")


def _rows(lines: Iterable[str | bytes]) -> Iterator[tuple[int, list[str], Columns, str | None]]:
    """(line, cells, columns, why the row is unreadable or None) for every data row."""
    bad: dict[int, str] = {}
    reader = csv.reader(_decoded(lines, bad))
    columns: Columns | None = None
    first = 1
    for cells in reader:
        # A quoted cell may span lines: the row is unreadable if any of them was.
        unreadable = [bad.pop(n) for n in range(first, reader.line_num + 1) if n in bad]
        first = reader.line_num + 1
        if unreadable:
            yield reader.line_num, cells, columns or Columns(), unreadable[0]
            continue
        if not any(cell.strip() for cell in cells) or cells[0].lstrip().startswith("#"):
            continue
        if columns is None:
            columns = detect_columns(cells)
            if columns is not None:
                continue
            columns = Columns()
        yield reader.line_num, cells, columns, None


def read_dial_file(
    lines: Iterable[str | bytes],
    *,
    account: str | None = None,
    display_num: str | None = None,
    app_id: str | None = None,
) -> Iterator[DialRow | BadRow]:
    """Rows of a dial file, lazily, in file order (see the module docstring).

    ``lines`` are bytes (decoded as UTF-8, a leading BOM dropped) or text.
    ``account``, ``display_num`` and ``app_id`` fill cells that are absent
    or empty.  A bad header raises :class:`RequestValidationError` before
    the first row is yielded.
    """
    defaults = {"account": account, "display_num": display_num, "app_id": app_id}
    for line, cells, columns, unreadable in _rows(lines):
        if unreadable is not None:
            yield BadRow(line, unreadable)
        else:
            yield _row(line, cells, columns, defaults)


def count_rows(lines: Iterable[str | bytes]) -> int:
    """How many rows :func:`read_dial_file` would yield (header, blank, comment lines excluded)."""
    return sum(1 for _ in _rows(lines))


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
