from __future__ import annotations

import importlib.metadata
import inspect
import re
import sys
import typing
from pathlib import Path

import pytest

import laaffic_async
from laaffic_async import errors, models, webhooks


def test_all_is_sorted_and_complete() -> None:
    names = laaffic_async.__all__

    def isort_key(name: str) -> tuple[int, str]:
        # ruff's RUF022 order: CONSTANTS, then Classes, then functions and dunders.
        kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return kind, name

    assert list(names) == sorted(names, key=isort_key)
    for name in names:
        assert hasattr(laaffic_async, name), name


def test_every_error_is_exported() -> None:
    for name in errors.__all__:
        if name[0].isupper():
            assert name in laaffic_async.__all__, name


def test_brand_urls() -> None:
    assert laaffic_async.LAAFFIC == "https://api.laaffic.com/v3"
    assert laaffic_async.ITNIOTECH == "https://api.itniotech.com"


def test_error_tree() -> None:
    assert issubclass(errors.SipBusyError, errors.ApiError)
    assert issubclass(errors.ApiError, errors.LaafficError)
    assert issubclass(errors.RequestValidationError, ValueError)
    for cls in (errors.TransportError, errors.OutcomeUnknownError, errors.HttpStatusError):
        assert issubclass(cls, errors.LaafficError)
        assert not issubclass(cls, errors.ApiError)


def test_public_names_have_docstrings() -> None:
    for name in laaffic_async.__all__:
        obj = getattr(laaffic_async, name)
        if isinstance(obj, type):
            assert obj.__doc__, name


def test_the_version_matches_the_installed_distribution() -> None:
    assert laaffic_async.__version__ == importlib.metadata.version("laaffic-async")


def test_credentials_is_a_deprecated_alias_outside_all() -> None:
    assert "Credentials" not in laaffic_async.__all__
    with pytest.warns(DeprecationWarning, match="pass api_key and api_secret"):
        alias = laaffic_async.Credentials
    assert alias is models.Credentials
    with pytest.raises(AttributeError):
        _ = laaffic_async.NoSuchName


def test_push_names_are_exported_from_the_package_too() -> None:
    assert set(webhooks.__all__) <= set(laaffic_async.__all__)
    assert laaffic_async.PushReceiver is webhooks.PushReceiver
    assert laaffic_async.PushStats is webhooks.PushStats


def test_the_types_of_public_parameters_and_attributes_are_exported() -> None:
    parameter = inspect.signature(laaffic_async.AsyncClient.__init__).parameters["http_backend"]
    # A string (postponed annotations): the name, looked up where the client is defined.
    home = sys.modules[laaffic_async.AsyncClient.__module__]
    assert getattr(home, str(parameter.annotation)) == laaffic_async.HttpBackend
    assert typing.get_args(laaffic_async.HttpBackend) == ("pooled", "aiohttp", "httpx")
    client = laaffic_async.AsyncClient("k", "s", concurrency=2, calls_per_second=5.0)
    assert type(client.limits) is laaffic_async.DialLimits
    assert type(client.limits.concurrency) is laaffic_async.ConcurrencyLimit
    assert type(client.limits.rate) is laaffic_async.RateLimiter


def test_export_records_is_public_and_no_example_imports_a_private_module() -> None:
    assert laaffic_async.export_records.__module__.startswith("laaffic_async.")
    assert {"ExportResult", "export_records"} <= set(laaffic_async.__all__)
    examples = Path(__file__).resolve().parents[2] / "examples"
    private = re.compile(r"^\s*(from|import)\s+laaffic_async(\.\w+)*\._", re.MULTILINE)
    offenders = [p.name for p in examples.glob("*.py") if private.search(p.read_text())]
    assert offenders == []
