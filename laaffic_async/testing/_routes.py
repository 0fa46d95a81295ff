"""What a sandbox handler sees, and how routes are declared."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import attrs

from ._wire import ApiFailure


@attrs.frozen
class Request:
    """One request as a handler sees it: the matched route's tail, query and body."""

    method: str
    endpoint: str
    tail: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object, or -18 ("Port program unusual") as the platform answers."""
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise ApiFailure("-18", "Port program unusual") from None
        if not isinstance(data, dict):
            raise ApiFailure("-18", "Port program unusual")
        return data


@attrs.frozen
class RawResponse:
    """A handler's answer that is not the JSON envelope (a recording download)."""

    status: int
    body: bytes
    content_type: str = "application/octet-stream"


Handler = Callable[[Any, Request], Any]


@attrs.frozen
class Route:
    """An endpoint relative to any base prefix; ``prefix=True`` takes a tail (``{voiceId}``)."""

    method: str
    endpoint: str
    handler: Handler
    prefix: bool = False
    signed: bool = True

    def match(self, method: str, path: str) -> str | None:
        """The path's tail after the endpoint if this route serves it, else None."""
        if method != self.method:
            return None
        path = path.rstrip("/")
        if self.prefix:
            marker = "/" + self.endpoint + "/"
            at = path.rfind(marker)
            if at < 0:
                return None
            tail = path[at + len(marker) :]
            return tail if tail and "/" not in tail else None
        if path == "/" + self.endpoint or path.endswith("/" + self.endpoint):
            return ""
        return None
