"""The dial file's rules, table-driven and without a server."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest

import laaffic_async._cli.dialfile as dialfile
from laaffic_async import (
    Call,
    CallOutcome,
    OutcomeUnknownError,
    RequestValidationError,
    SipBusyError,
)
from laaffic_async._cli.dialfile import (
    BadRow,
    Columns,
    DialRow,
    count_rows,
    detect_columns,
    outcome_record,
    read_dial_file,
)


def rows(text: str, **defaults: str) -> list[DialRow | BadRow]:
    return list(read_dial_file(text.splitlines(keepends=True), **defaults))


def test_headerless_columns_are_positional() -> None:
    got = rows("932111111111,acct1,ref-1,1008122211\n932111111112,acct2\n")
    assert got == [
        DialRow(1, Call("932111111111", "acct1", "1008122211", "ref-1")),
        DialRow(2, Call("932111111112", "acct2")),
    ]


@pytest.mark.parametrize(
    "header",
    [
        "callee,account,calledInfo,displayNum",
        "Callee, Account, called_info, display_num",
        "NUMBER,ACCOUNT,Called Info,Display-Num",
        "phone,account,calledinfo,displaynum",
    ],
)
def test_header_spellings(header: str) -> None:
    got = rows(f"{header}\n932111111111,acct1,ref,1008122211\n")
    assert got == [DialRow(2, Call("932111111111", "acct1", "1008122211", "ref"))]


def test_header_order_and_unknown_columns() -> None:
    text = "name,calledInfo,callee,appId\nAnn,ref-9,932111111111,other\n"
    assert rows(text, account="dflt") == [
        DialRow(2, Call("932111111111", "dflt", called_info="ref-9", app_id="other"))
    ]


def test_defaults_fill_empty_cells_only() -> None:
    text = "callee,account,displayNum\n932111111111,,\n932111111112,own,1000000001\n"
    got = rows(text, account="dflt", display_num="1008122211")
    assert got == [
        DialRow(2, Call("932111111111", "dflt", display_num="1008122211")),
        DialRow(3, Call("932111111112", "own", display_num="1000000001")),
    ]


def test_bad_rows_carry_their_line_and_rule() -> None:
    text = (
        "callee,account,displayNum\n"
        "932111111111,a,\n"
        "\n"
        "# a comment\n"
        "+93 211,a,\n"
        "932111111113,,\n"
        "932111111114,a,12\n"
        '932111111115,"a",\n'
    )
    got = rows(text)
    assert [type(r).__name__ for r in got] == ["DialRow", "BadRow", "BadRow", "BadRow", "DialRow"]
    bad = [r for r in got if isinstance(r, BadRow)]
    assert [r.line for r in bad] == [5, 6, 7]
    assert bad[0].message.startswith("callee:")
    assert bad[1].message.startswith("account:")
    assert bad[2].message.startswith("displayNum:")


def test_quoted_multiline_cells_keep_true_line_numbers() -> None:
    text = 'callee,account,calledInfo\n932111111111,a,"two\nlines"\n12,a,x\n'
    got = rows(text)
    assert got[0] == DialRow(3, Call("932111111111", "a", called_info="two\nlines"))
    assert isinstance(got[1], BadRow)
    assert got[1].line == 4


def test_called_info_over_1000_characters_is_a_bad_row() -> None:
    got = rows(f"932111111111,a,{'x' * 1001}\n")
    assert isinstance(got[0], BadRow)
    assert got[0].message.startswith("calledInfo:")


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (["932111111111", "a"], None),
        (["callee"], Columns(0, None, None, None, None)),
        (["account", "callee"], Columns(1, 0, None, None, None)),
    ],
)
def test_detect_columns(cells: list[str], expected: Columns | None) -> None:
    assert detect_columns(cells) == expected


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        ("account,calledInfo", "no callee"),
        ("callee,number", "twice"),
        ("foo,bar", "names no known column"),
        ("name;mobile", "names no known column"),
    ],
)
def test_bad_headers_are_refused(header: str, rule: str) -> None:
    with pytest.raises(RequestValidationError) as info:
        rows(f"{header}\n932111111111,a\n")
    assert info.value.field == "header"
    assert rule in info.value.rule


@pytest.mark.parametrize("first", ["932111111111,a", "+91 98765-43210,a", ",a", "12,a"])
def test_a_first_row_that_starts_with_a_number_is_data(first: str) -> None:
    got = rows(f"{first}\n932111111112,a\n")
    assert [r.line for r in got] == [1, 2]


def test_a_line_that_is_not_utf8_is_a_bad_row_and_the_rest_are_read() -> None:
    lines = [
        b"\xef\xbb\xbfcallee,account,calledInfo\n",
        b"932111111111,a,caf\xc3\xa9\n",
        b"932111111112,a,caf\xe9\n",  # latin-1: not UTF-8
        b'932111111113,a,"two\n',
        b'li\xffnes"\n',  # inside a quoted cell: the whole row is unreadable
        b"932111111114,a,ok\n",
    ]
    got = list(read_dial_file(lines))
    assert got[0] == DialRow(2, Call("932111111111", "a", called_info="café"))
    assert got[1] == BadRow(3, "is not UTF-8 text (byte 0xe9 at column 19)")
    assert got[2] == BadRow(5, "is not UTF-8 text (byte 0xff at column 3)")
    assert got[3] == DialRow(6, Call("932111111114", "a", called_info="ok"))
    assert len(got) == 4


def test_count_rows_counts_only_what_is_dialed_or_reported() -> None:
    text = "callee,account\n\n# note\n932111111111,a\n12,a\n\n932111111113,a\n"
    assert count_rows(text.splitlines(keepends=True)) == 3
    assert count_rows([b"932111111111,a\n", b"\xff\n", b"\n"]) == 2


def test_reading_is_lazy() -> None:
    endless = (f"9321{i:08d},a{i}\n" for i in itertools.count())
    first = list(itertools.islice(read_dial_file(endless), 3))
    assert [r.line for r in first] == [1, 2, 3]


def test_outcome_records() -> None:
    call = Call("932111111111", "a", called_info="ref")
    placed = outcome_record(CallOutcome(call, voice_id="2203031113381000002"), 7)
    assert placed == {
        "line": 7,
        "callee": "932111111111",
        "account": "a",
        "calledInfo": "ref",
        "outcome": "placed",
        "voiceId": "2203031113381000002",
        "attempts": 1,
    }
    busy = SipBusyError("-68", "not idle", endpoint="voice/sendSip")
    failed = outcome_record(CallOutcome(call, error=busy, attempts=3), 8)
    assert failed["outcome"] == "failed"
    assert (failed["error"], failed["status"], failed["attempts"]) == ("SipBusyError", "-68", 3)
    lost = OutcomeUnknownError("dropped", endpoint="voice/sendSip", request=call)
    unknown = outcome_record(CallOutcome(call, error=lost))
    assert unknown["outcome"] == "unknown"
    assert unknown["error"] == "OutcomeUnknownError"
    assert "status" not in unknown


def test_the_dial_file_module_is_pure() -> None:
    tree = ast.parse(Path(dialfile.__file__).read_text())
    roots = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
    }
    assert not roots & {"anyio", "asyncio", "trio", "httpx", "socket", "time", "random", "click"}
