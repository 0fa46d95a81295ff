"""What every command shares: credential options and turning them into a client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

import click

from .._client import AsyncClient
from ..errors import RequestValidationError

F = TypeVar("F", bound=Callable[..., Any])

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


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
