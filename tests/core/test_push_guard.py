"""Admission rules for pushes: path token, source addresses, method, declared length."""

from __future__ import annotations

import pytest

from laaffic_async._core.push_guard import PushGuard, parse_networks, route_path

ALLOWED = parse_networks(["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"])


def check(guard: PushGuard, **overrides: object) -> int | None:
    request: dict[str, object] = {
        "method": "POST",
        "path": "/",
        "root_path": "",
        "client_host": "203.0.113.7",
        "headers": {},
    }
    request.update(overrides)
    return guard.check(**request)  # type: ignore[arg-type]


def test_defaults_accept_any_post() -> None:
    guard = PushGuard()
    assert check(guard) is None
    assert check(guard, path="/anything/at/all", client_host=None) is None


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE", "OPTIONS"])
def test_only_post(method: str) -> None:
    assert check(PushGuard(), method=method) == 405


@pytest.mark.parametrize(
    ("path", "root_path", "status"),
    [
        ("/s3cret", "", None),
        ("/s3cret/", "", None),
        ("/hooks/s3cret", "/hooks", None),  # Starlette: full path, mount in root_path
        ("/s3cret", "/hooks", None),  # older servers strip the mount
        ("/", "", 404),
        ("/s3cre", "", 404),
        ("/s3cret2", "", 404),
        ("/x/s3cret", "", 404),
        ("/hooks/other", "/hooks", 404),
    ],
)
def test_path_token(path: str, root_path: str, status: int | None) -> None:
    assert check(PushGuard(path_token="s3cret"), path=path, root_path=root_path) == status


def test_a_wrong_source_learns_nothing_about_the_token() -> None:
    guard = PushGuard(path_token="s3cret", allowed_networks=ALLOWED)
    # From outside the allowed networks the right and a wrong token answer alike.
    assert check(guard, method="GET", path="/nope", client_host="10.0.0.1") == 404
    assert check(guard, method="POST", path="/s3cret", client_host="10.0.0.1") == 404
    assert check(guard, method="GET", path="/s3cret") == 405
    # Without a token a wrong source is plainly forbidden.
    assert check(PushGuard(allowed_networks=ALLOWED), client_host="10.0.0.1") == 403


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("203.0.113.7", True),
        ("203.0.113.8", False),
        ("198.51.100.200", True),
        ("198.51.101.1", False),
        ("2001:db8::1", True),
        ("::ffff:203.0.113.7", True),  # IPv4-mapped, as dual-stack sockets report it
        ("2001:db9::1", False),
        ("not-an-ip", False),
        (None, False),
    ],
)
def test_source_addresses(host: str | None, allowed: bool) -> None:
    status = check(PushGuard(allowed_networks=ALLOWED), client_host=host)
    assert status == (None if allowed else 403)


@pytest.mark.parametrize(
    ("forwarded", "allowed"),
    [
        ("203.0.113.7", True),
        ("10.9.9.9, 203.0.113.7", True),  # the last entry is what our proxy appended
        ("203.0.113.7, 10.9.9.9", False),  # a forged first entry does not help
        ("[2001:db8::5]:443", True),
        ("", False),
        (None, False),
    ],
)
def test_trusted_proxy_header(forwarded: str | None, allowed: bool) -> None:
    guard = PushGuard(allowed_networks=ALLOWED, trusted_proxy_header="X-Forwarded-For")
    headers = {} if forwarded is None else {"x-forwarded-for": forwarded}
    # The peer is the proxy, outside the allowed list: only the header decides.
    assert check(guard, client_host="10.0.0.2", headers=headers) == (None if allowed else 403)


@pytest.mark.parametrize(
    ("length", "status"),
    [("0", None), ("1024", None), ("1025", 413), ("99999999999999999999", 413), ("-1", 400)],
)
def test_declared_length(length: str, status: int | None) -> None:
    guard = PushGuard(max_body=1024)
    assert check(guard, headers={"content-length": length}) == status
    assert check(guard, headers={"content-length": "abc"}) == 400


def test_parse_networks_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="does not appear"):
        parse_networks(["example.com"])
    with pytest.raises(ValueError, match="empty"):
        parse_networks([])
    with pytest.raises(TypeError):
        parse_networks("203.0.113.7")


def test_token_is_not_in_repr() -> None:
    assert "s3cret" not in repr(PushGuard(path_token="s3cret"))


def test_route_path() -> None:
    assert route_path("/hooks/abc", "/hooks") == "/abc"
    assert route_path("/abc", "/hooks") == "/abc"
    assert route_path("/abc", "") == "/abc"
    assert route_path("/hooksabc", "/hooks") == "/hooksabc"
    assert route_path("/hooks", "/hooks/") == ""
