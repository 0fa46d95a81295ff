"""One TLS policy for every backend: what ``AsyncClient(verify=...)`` accepts and the CA source.

Stock httpx trusts certifi's bundle while Python's ``ssl`` module trusts the system store, so
before this module the pooled backend and the httpx backend could disagree on the same server.
Now every backend gets the one ``ssl.SSLContext`` built here: certifi's bundle when certifi is
importable (it is a dependency of httpx, so in practice always), else the system store.
"""

from __future__ import annotations

import functools
import os
import ssl
import warnings

from ..errors import RequestValidationError

__all__ = ["Verify", "ca_source", "ssl_context"]

#: ``True`` (certifi, else the system store), a CA bundle file or directory, an
#: ``ssl.SSLContext`` used as given, or ``False`` (no verification, with a warning).
Verify = bool | str | os.PathLike[str] | ssl.SSLContext


def ca_source() -> str:
    """Where ``verify=True`` takes its trusted CAs from: a path, or ``"system"``."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return "system"
    return str(certifi.where())


@functools.lru_cache(maxsize=8)
def _default_context(cafile: str) -> ssl.SSLContext:
    if cafile == "system":  # pragma: no cover - certifi comes with httpx
        context = ssl.create_default_context()
    else:
        context = ssl.create_default_context(cafile=cafile)
    context.set_alpn_protocols(["http/1.1"])
    return context


def ssl_context(verify: Verify) -> ssl.SSLContext:
    """The context every backend uses for ``verify`` (see :data:`Verify`)."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is True:
        return _default_context(ca_source())
    if verify is False:
        warnings.warn(
            "verify=False: TLS certificates are NOT checked; anyone on the path can read "
            "and change API calls, credentials included",
            stacklevel=4,  # the AsyncClient(...) call
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if os.path.isdir(path):
            context = ssl.create_default_context(capath=path)
        elif os.path.isfile(path):
            context = ssl.create_default_context(cafile=path)
        else:
            raise RequestValidationError("verify", "names no CA bundle file or directory", path)
        context.set_alpn_protocols(["http/1.1"])
        return context
    raise RequestValidationError(
        "verify", "must be True, False, a CA bundle path or an ssl.SSLContext", verify
    )
