"""Who may push, and what a push may look like, before its body is read.

Pushes carry no signature (NOTES.md: "no signature, no secret"), so what can
be checked is where they come from and where they go:

* a secret path token: the push URL set in the platform's console ends in
  it, and any other path answers 404 as if nothing were there;
* an allowed-source list of addresses or networks, answered 403 otherwise,
  checked *first*, and answered 404 like a wrong token when a token is set:
  a source outside the list learns nothing about the token (a right token
  once got 403 there and a wrong one 404, which confirmed guesses);
  behind a reverse proxy the peer is the proxy, so the client address may be
  taken from a header the proxy sets (its last entry: the one *your* proxy
  appended, since anything before it came from the client and is forgeable);
* POST only (405), and a size limit (413) checked on ``Content-Length``
  before reading and on the bytes actually read.

Pure: it takes the request's facts and answers with a status, or ``None``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable, Mapping

import attrs

from ..errors import RequestValidationError

__all__ = ["IpNetwork", "PushGuard", "parse_networks", "route_path"]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(allowed: Iterable[str]) -> tuple[IpNetwork, ...]:
    """``["203.0.113.7", "198.51.100.0/24", "2001:db8::/32"]`` as networks.

    Raises RequestValidationError for an entry that is neither an address nor a network.
    A bare string (one address) is refused: it would be read letter by letter.
    """
    if isinstance(allowed, str):
        raise TypeError("allowed_ips must be a list of addresses or networks, not one string")
    try:
        networks = tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in allowed)
    except ValueError as exc:
        raise RequestValidationError("allowed_ips", str(exc), list(allowed)) from None
    if not networks:
        raise RequestValidationError("allowed_ips", "is empty: every push would be refused", [])
    return networks


def _address(text: str) -> _IpAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def route_path(path: str, root_path: str) -> str:
    """The path below where the app is mounted (Starlette keeps the full path in ``path``)."""
    root_path = root_path.rstrip("/")
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        path = path[len(root_path) :]
    return path


@attrs.frozen
class PushGuard:
    """The admission rules of one receiver; ``check`` answers a status to refuse with."""

    path_token: str | None = attrs.field(default=None, repr=False)
    allowed_networks: tuple[IpNetwork, ...] | None = None
    trusted_proxy_header: str | None = None
    max_body: int = 1024 * 1024

    def check(
        self,
        *,
        method: str,
        path: str,
        root_path: str,
        client_host: str | None,
        headers: Mapping[str, str],
    ) -> int | None:
        """404 wrong path token, 403 source not allowed, 405 not POST, 400/413 bad length.

        The source goes first; with a path token set it is refused with the same 404 as a
        wrong token, so its answer says nothing about the path.
        """
        if self.allowed_networks is not None and not self.source_allowed(client_host, headers):
            return 403 if self.path_token is None else 404
        if self.path_token is not None:
            tail = route_path(path, root_path).strip("/").encode()
            # compare_digest: the token is a secret, so do not leak its prefix through timing.
            if not hmac.compare_digest(tail, self.path_token.encode()):
                return 404
        if method != "POST":
            return 405
        length = headers.get("content-length")
        if length is not None:
            if not (length.isascii() and length.isdigit()):
                return 400
            if int(length) > self.max_body:
                return 413
        return None

    def source_allowed(self, client_host: str | None, headers: Mapping[str, str]) -> bool:
        """Whether the push's source address is in ``allowed_networks``."""
        if self.allowed_networks is None:
            return True
        if self.trusted_proxy_header is not None:
            forwarded = headers.get(self.trusted_proxy_header.lower())
            source = forwarded.split(",")[-1] if forwarded else None
        else:
            source = client_host
        address = _address(source) if source else None
        return address is not None and any(address in net for net in self.allowed_networks)
