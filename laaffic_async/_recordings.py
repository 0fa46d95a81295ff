"""Voice extras for dialer backends: one call record, recording links and downloads.

:class:`~laaffic_async.AsyncClient` exposes these as ``record``,
``recording_url`` and ``download_recording``; the work lives here so the
client stays short.

Downloads stream: the body goes to a temporary file next to the
destination in chunks of :data:`CHUNK_SIZE` (never the whole recording in
memory), is flushed and fsynced, then renamed over the destination with
``os.replace``, so a reader sees either the old file or the complete new
one, never a partial one.  Any failure (HTTP error, dropped connection,
cancellation) removes the temporary file.  File work runs in worker threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx

from ._callcenter_models import RecordingUrl
from ._core.answers import read_record, read_recording_url
from ._core.callcenter import record_request, recording_url_request
from ._core.retry import backoff_delay
from .errors import HttpStatusError, RequestValidationError, TransportError
from .models import CallRecord

if TYPE_CHECKING:
    from ._client import AsyncClient

__all__ = ["CHUNK_SIZE", "DOWNLOAD", "download_recording", "fetch_record", "fetch_recording_url"]

log = logging.getLogger("laaffic_async")

#: Bytes written to disk at a time.  Measured on a 48 MiB download over 127.0.0.1: 64 KiB
#: chunks ran at 171 MiB/s, 256 KiB at 230 MiB/s (plain httpx reading to nowhere: 318 MiB/s);
#: the client's peak memory stayed under 1 MiB either way.
CHUNK_SIZE = 256 * 1024
#: The name errors and logs give a download: never its URL, whose query is a credential.
DOWNLOAD = "recording download"
# How much of a failed download's text answer is kept for the error message.
_ERROR_BODY_LIMIT = 4096


async def fetch_record(client: AsyncClient, voice_id: str) -> CallRecord:
    """``GET voice/recordSip/{voiceId}`` as a :class:`CallRecord`."""
    request = record_request(voice_id)
    return read_record(request.endpoint, await client.request(request))


async def fetch_recording_url(
    client: AsyncClient, recording_file_id: str, source_type: str = "sip"
) -> RecordingUrl:
    """``GET voice/getRecordingFileUrl`` as a :class:`RecordingUrl`."""
    request = recording_url_request(recording_file_id, source_type)
    return read_recording_url(request.endpoint, await client.request(request))


def _target(destination: str | os.PathLike[str], file_id: str) -> Path:
    """The file to write: ``destination`` itself, or ``destination/<file id>`` for a directory.

    A destination ending in a path separator means a directory, created if missing
    (never a file named like the directory).
    """
    text = os.fspath(destination)
    path = Path(text)
    if text.endswith(("/", os.sep)):
        path.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        name = Path(file_id.replace("\\", "/")).name
        if name in ("", ".", ".."):
            raise RequestValidationError(
                "recordingFileId", "cannot name a file; pass a file path as destination", file_id
            )
        path = path / name
    if not path.parent.is_dir():
        raise FileNotFoundError(f"directory {str(path.parent)!r} does not exist")
    return path


def _file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the umask); mkstemp's is 0o600."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # the only portable way to read it is to set it
    os.umask(mask)
    return 0o666 & ~mask


def _temporary_beside(target: Path) -> tuple[int, str]:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    # The recording is the user's file, not a secret: normal permissions, as the
    # platform's other tools (curl -o, a browser) would give it.
    os.fchmod(fd, _file_mode())
    return fd, temporary


def _discard(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


async def _error_text(response: httpx.Response) -> str:
    """The start of a failure's text answer (it may be long; only the start is kept)."""
    kept = bytearray()
    async for chunk in response.aiter_bytes():
        kept += chunk[: _ERROR_BODY_LIMIT - len(kept)]
        if len(kept) >= _ERROR_BODY_LIMIT:
            break
    return kept.decode("utf-8", "replace")


async def _stream_once(client: AsyncClient, url: str, target: Path) -> None:
    fd, temporary = await anyio.to_thread.run_sync(_temporary_beside, target)
    handle = anyio.wrap_file(os.fdopen(fd, "wb"))
    try:
        # A pre-signed link: the Api-Key and Sign are not sent to whatever host serves it.
        async with client._stack.http.stream("GET", url) as response:
            if response.status_code != 200:
                raise HttpStatusError(
                    response.status_code, endpoint=DOWNLOAD, body=await _error_text(response)
                )
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                await handle.write(chunk)
        await handle.flush()
        # Durable before visible: fsync, close, then the atomic rename.
        await anyio.to_thread.run_sync(os.fsync, handle.wrapped.fileno())
        await handle.aclose()
        await anyio.to_thread.run_sync(os.replace, temporary, target)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await handle.aclose()
            await anyio.to_thread.run_sync(_discard, temporary)
        raise


def _transient(exc: Exception) -> bool:
    # NOTES.md: the download answers HTTP 500 with a text body when it fails (unknown
    # file, expired link): that is an answer, not an outage, and is never retried.
    if isinstance(exc, HttpStatusError):
        return exc.status_code in (502, 503, 504)
    return isinstance(exc, httpx.TransportError)


async def download_recording(
    client: AsyncClient,
    file_id: str,
    destination: str | os.PathLike[str],
    source_type: str = "sip",
) -> Path:
    """Fetch a fresh link for ``file_id`` and stream the recording to ``destination``.

    ``destination`` is a file path or a directory (the file is then named after
    ``file_id``); one ending in ``/`` is a directory and is created if missing.
    The file gets the permissions a new file normally gets (0o666 less the umask).

    Transport failures and 502-504 restart the download from the beginning
    (it is read-only), following the client's retry policy.
    """
    target = await anyio.to_thread.run_sync(_target, destination, file_id)
    link = await fetch_recording_url(client, file_id, source_type)
    attempt = 0
    while True:
        attempt += 1
        try:
            await _stream_once(client, link.url, target)
            return target
        except (httpx.TransportError, HttpStatusError) as exc:
            if not _transient(exc) or attempt >= client.retry.attempts:
                if isinstance(exc, httpx.TransportError):
                    raise TransportError(f"{type(exc).__name__}: {exc}", endpoint=DOWNLOAD) from exc
                raise
            delay = backoff_delay(client.retry, attempt, random.random())
            log.info("%s of %s: attempt %d failed (%s); retrying", DOWNLOAD, file_id, attempt, exc)
            await anyio.sleep(delay)
