"""What every command shares: credential options and turning them into a client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

import click

from .._client import AsyncClient
from ..errors import RequestValidationError

__all__ = ["EXIT_CODES", "client_from_options", "credential_options", "fail", "usage_error"]

F = TypeVar("F", bound=Callable[..., Any])

#: What every command exits with: the epilog of each --help, and the README's table.
EXIT_CODES = """\b
Exit codes:
  0    success (dial: every call placed)
  1    a call failed or its outcome is unknown, or the API or network failed
  2    bad usage or input: an option or its value, the credentials, a dial
       file's header, or any bad row of it (reported on stderr with its line
       number; the other rows are still dialed)
  3    dial --redis: the fleet's Redis is unreachable (nothing was sent)
  130  interrupted (dial: the outcomes known so far are written; records
       export: run it again to resume)
"""


def _check_base_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A base URL needs its scheme: without one httpx only says 'UnsupportedProtocol'."""
    if value is None or value.lower().startswith(("http://", "https://")):
        return value
    scheme = "http" if value.startswith(("127.", "localhost", "[::1]")) else "https"
    raise click.BadParameter(
        f"{value!r} has no http:// or https:// scheme; did you mean '{scheme}://{value}'?",
        ctx,
        param,
    )


_OPTIONS = (
    click.option("--api-key", envvar="LAAFFIC_API_KEY", help="API key [env: LAAFFIC_API_KEY]."),
    click.option(
        "--api-secret",
        envvar="LAAFFIC_API_SECRET",
        help="API secret [env: LAAFFIC_API_SECRET].",
    ),
    click.option(
        "--app-id", envvar="LAAFFIC_APP_ID", help="Voice application id [env: LAAFFIC_APP_ID]."
    ),
    click.option(
        "--base-url",
        envvar="LAAFFIC_BASE_URL",
        callback=_check_base_url,
        help="API root, e.g. https://api.laaffic.com/v3 [env: LAAFFIC_BASE_URL].",
    ),
)


def credential_options(func: F) -> F:
    """Add --api-key/--api-secret/--app-id/--base-url (each also read from the environment)."""
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


def client_from_options(options: Mapping[str, Any], **kwargs: Any) -> AsyncClient:
    """Build a client from the credential options, or exit 2 naming what is missing."""
    try:
        return AsyncClient(
            options.get("api_key"),
            options.get("api_secret"),
            app_id=options.get("app_id"),
            base_url=options.get("base_url"),
            **kwargs,
        )
    except RequestValidationError as exc:
        fail(f"{exc}; pass --{exc.field.replace('_', '-')} or set the environment variable", 2)


# Request fields a refusal may name, in the words of the command line that set them.
_OPTION_FOR_FIELD = {
    "callee": "CALLEE",
    "account": "--account",
    "displayNum": "--display-num",
    "calledInfo": "--called-info",
    "appId": "--app-id",
    "strTime": "--since",
    "endTime": "--until",
    "sipGroupName": "--group",
    "phoneName": "--phone",
    "format": "--format",
}


def usage_error(exc: RequestValidationError) -> NoReturn:
    """Exit 2 with a refusal in the user's words: the option and the value as typed."""
    if exc.field == "header" and isinstance(exc.value, list):  # a dial file's header row
        fail(f"header {','.join(map(str, exc.value))!r}: {exc.rule}", code=2)
    option = _OPTION_FOR_FIELD.get(exc.field)
    if option is None:
        fail(str(exc), code=2)
    typed = f" {exc.value!r}" if isinstance(exc.value, str) else ""
    fail(f"{option}{typed}: {exc.rule}", code=2)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
