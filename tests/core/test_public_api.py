from __future__ import annotations

import importlib.metadata

import laaffic_async
from laaffic_async import errors


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
