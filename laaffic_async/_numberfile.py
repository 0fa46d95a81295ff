"""A number list read into a cc/preview/upload body, for :meth:`CallCenter.upload_numbers`.

The file is base64 encoded piece by piece straight into the body (in a worker thread, by the
caller), so memory holds one encoded copy and never the file twice.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ._core import callcenter as build
from ._core.requests import ApiRequest
from .errors import RequestValidationError

__all__ = ["NumberFile", "check_number_file", "upload_request"]

#: What :meth:`CallCenter.upload_numbers` accepts as ``file``.
NumberFile = str | os.PathLike[str] | bytes | bytearray | memoryview | IO[bytes]
# Bytes read from a number list at a time (a multiple of 3, so base64 pieces join cleanly).
_READ_CHUNK = 3 * 256 * 1024


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(_READ_CHUNK):
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise RequestValidationError("file", "must be opened in binary mode ('rb')", chunk)
        yield chunk


def _remaining(handle: IO[bytes]) -> int | None:
    """Bytes left in a seekable file object (a size hint for the body), else None."""
    try:
        if not handle.seekable():
            return None
        here = handle.tell()
        end = handle.seek(0, io.SEEK_END)
        handle.seek(here)
    except (OSError, ValueError, AttributeError):
        return None
    return max(0, end - here)


def check_number_file(file: object, file_name: str | None) -> str:
    """Check ``file`` is something upload_request reads, and return the list's file name."""
    if not isinstance(file, (str, os.PathLike, bytes, bytearray, memoryview)) and not callable(
        getattr(file, "read", None)
    ):
        raise RequestValidationError(
            "file", "must be a path, bytes or a binary file object", type(file).__name__
        )
    if file_name is not None:
        return build.check_file_name(file_name)
    if isinstance(file, (str, os.PathLike)):
        return build.check_file_name(Path(file).name)
    name = getattr(file, "name", None)
    if isinstance(name, str) and name:
        return build.check_file_name(Path(name).name)
    raise RequestValidationError(
        "fileName", "is required when file is bytes or an unnamed file object", None
    )


def upload_request(file: NumberFile, name: str) -> ApiRequest:
    """Read ``file`` and build the upload body (runs in a worker thread)."""
    if isinstance(file, (bytes, bytearray, memoryview)):
        view = memoryview(file).cast("B")
        chunks = (view[at : at + _READ_CHUNK] for at in range(0, len(view), _READ_CHUNK))
        return build.upload_request(name, chunks, len(view))
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return build.upload_request(
                name, _file_chunks(handle), os.fstat(handle.fileno()).st_size
            )
    return build.upload_request(name, _file_chunks(file), _remaining(file))
