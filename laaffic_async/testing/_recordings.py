"""One call record, recording URLs and recording downloads.

* ``GET voice/recordSip/{voiceId}``: the record as recordSipQuery shows it, -24 if unknown;
* ``GET voice/getRecordingFileUrl?recordingFileId=...&sourceType=sip|group``:
  ``{url, expireTime}`` with ``expireTime`` in epoch milliseconds (NOTES.md);
* the URL it hands out (``/sandbox/recordings/{id}?expires=..&sign=..``) is
  pre-signed and needs no API headers; it serves the bytes, or HTTP 500 with
  a text body for an unknown file, a bad signature or an expired link, as
  NOTES.md says the platform's download does.

A call the sandbox placed and that was answered has a recording
(``recordingFileId`` is ``{voiceId}.mp3``) whose bytes are made up from the
id, :attr:`RecordingState.default_size` long; tests may store their own
bytes in :attr:`RecordingState.files`.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import attrs

from ._routes import RawResponse, Request, Route
from ._wire import ApiFailure

if TYPE_CHECKING:
    from ._state import SandboxState

#: Where the sandbox serves recordings, below any host (its links carry no API prefix).
DOWNLOAD_PATH = "sandbox/recordings"


@attrs.define
class RecordingState:
    """Recordings the sandbox can serve, and how its download links behave."""

    #: Recording bytes by recordingFileId, beyond the made-up ones of placed calls.
    files: dict[str, bytes] = attrs.field(factory=dict, repr=False)
    #: Size of the made-up recording of a placed, answered call.
    default_size: int = 32 * 1024
    #: How long a download link stays valid.
    url_seconds: float = 3600.0
    #: Links signed with this; a link with another signature is refused.
    link_secret: str = attrs.field(default="sandbox-link-secret", repr=False)
    #: Successful downloads served, per recordingFileId.
    downloads: dict[str, int] = attrs.field(factory=dict, repr=False)

    def content(self, state: SandboxState, file_id: str) -> bytes | None:
        """The bytes of ``file_id``, or None if the sandbox knows no such recording."""
        if file_id in self.files:
            return self.files[file_id]
        row = state.records.get(file_id.removesuffix(".mp3"))
        if row is None or row.get("recordingFileId") != file_id:
            return None
        return fake_recording(file_id, self.default_size)

    def sign(self, file_id: str, expires_ms: int) -> str:
        """The signature a link for ``file_id`` valid until ``expires_ms`` carries."""
        raw = f"{self.link_secret}:{file_id}:{expires_ms}".encode()
        return hashlib.sha256(raw).hexdigest()[:32]


def fake_recording(file_id: str, size: int) -> bytes:
    """Deterministic bytes standing in for an MP3: an ID3 tag, then a hash-chained stream."""
    block = hashlib.sha256(file_id.encode()).digest() * 128
    head = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    body = (block * (size // len(block) + 1))[: max(0, size - len(head))]
    return (head + body)[:size]


def record_sip(state: SandboxState, request: Request) -> Any:
    row = state.records.get(request.tail)
    if row is None:
        raise ApiFailure("-24", "Data does not exist")
    return row


def recording_file_url(state: SandboxState, request: Request) -> Any:
    file_id = request.query.get("recordingFileId", "")
    source = request.query.get("sourceType", "sip")
    if not file_id:
        raise ApiFailure("-22", "Parameter exception: recordingFileId is required")
    if source not in ("sip", "group"):
        raise ApiFailure("-22", "Parameter exception: sourceType must be sip or group")
    recordings = state.recordings
    if recordings.content(state, file_id) is None:
        raise ApiFailure("-24", "Data does not exist")
    expires = int((state.clock() + recordings.url_seconds) * 1000)
    host = request.headers.get("host", "sandbox")
    url = (
        f"http://{host}/{DOWNLOAD_PATH}/{quote(file_id, safe='')}"
        f"?expires={expires}&sign={recordings.sign(file_id, expires)}"
    )
    return {"url": url, "expireTime": expires}


def _failure(text: str) -> RawResponse:
    return RawResponse(500, text.encode(), "text/plain;charset=UTF-8")


def download(state: SandboxState, request: Request) -> RawResponse:
    recordings = state.recordings
    file_id = request.tail
    try:
        expires = int(request.query.get("expires", ""))
    except ValueError:
        return _failure("invalid link")
    if request.query.get("sign") != recordings.sign(file_id, expires):
        return _failure("invalid link")
    if expires < state.clock() * 1000:
        return _failure("link expired")
    content = recordings.content(state, file_id)
    if content is None:
        return _failure("file does not exist")
    recordings.downloads[file_id] = recordings.downloads.get(file_id, 0) + 1
    return RawResponse(200, content, "audio/mpeg")


ROUTES = [
    Route("GET", "voice/recordSip", record_sip, prefix=True),
    Route("GET", "voice/getRecordingFileUrl", recording_file_url),
    Route("GET", DOWNLOAD_PATH, download, prefix=True, signed=False),
]
