from __future__ import annotations

from laaffic_async._core.signing import CONTENT_TYPE, sign, signed_headers
from laaffic_async.models import Credentials


def test_vendor_vector() -> None:
    # The vendor pages' own example: MD5(bDqJFiq97bz1lzh91630468800).
    assert sign("bDqJFiq9", "7bz1lzh9", 1630468800) == "05d7a50893e22a5c4bb3216ae3396c7c"


def test_headers_for_one_attempt() -> None:
    headers = signed_headers(Credentials("bDqJFiq9", "7bz1lzh9"), 1630468800)
    assert headers == {
        "Content-Type": "application/json;charset=UTF-8",
        "Api-Key": "bDqJFiq9",
        "Timestamp": "1630468800",
        "Sign": "05d7a50893e22a5c4bb3216ae3396c7c",
    }
    assert CONTENT_TYPE == "application/json;charset=UTF-8"


def test_sign_changes_with_timestamp() -> None:
    assert sign("k", "s", 1) != sign("k", "s", 2)


def test_secret_not_in_repr() -> None:
    assert "7bz1lzh9" not in repr(Credentials("bDqJFiq9", "7bz1lzh9"))
