"""The one cattrs Converter that owns the wire format.

Private on purpose (never cattrs' global converter): users may register
their own hooks there without changing how this SDK reads the API.

Wire rules it applies, all from the vendor pages:

* camelCase on the wire, snake_case in Python (``submitTime`` <-> ``submit_time``);
* times are ISO-8601 strings with an offset (``2022-01-18T14:42:40+08:00``)
  and become aware datetimes; a time without an offset is refused rather
  than guessed;
* money (``cost``, ``rate``) is a decimal string and becomes ``Decimal``;
  floats never touch it;
* an empty string in an optional field means "absent" and becomes ``None``;
* unknown fields are ignored, so a server that adds a field breaks nothing.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import attrs
from cattrs import Converter
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

T = TypeVar("T")

__all__ = ["camel", "structure", "to_wire", "unstructure_time"]


def camel(name: str) -> str:
    """``submit_time`` -> ``submitTime``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _structure_time(value: Any, _: Any) -> datetime:
    # Fast paths first (here and below): a record page decodes 5 times and 15 strings per
    # row, and these hooks were half of records()'s CPU (benchmarks/bench_export.py).
    if type(value) is str:
        result = datetime.fromisoformat(value)
        if result.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        return result
    if isinstance(value, datetime):
        result = value
    elif isinstance(value, str):
        result = datetime.fromisoformat(value)
    else:
        raise ValueError(f"expected an ISO-8601 time string, got {value!r}")
    if result.utcoffset() is None:
        raise ValueError(f"time {value!r} has no UTC offset")
    return result


def unstructure_time(value: datetime) -> str:
    """An aware datetime as the API writes it: seconds, with its offset."""
    return value.isoformat(timespec="seconds")


def _structure_decimal(value: Any, _: Any) -> Decimal:
    if type(value) is str:
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"expected a decimal amount, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise ValueError(f"expected a decimal amount, got {value!r}")
    try:
        # str() first: a JSON float such as 1.2 must become Decimal("1.2"), not its binary twin.
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"expected a decimal amount, got {value!r}") from None


def _structure_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _structure_str(value: Any, _: Any) -> str:
    # Some endpoints send numbers where the page documents strings (status, codes).
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected a string, got {value!r}")


def _optional_str(value: Any, cls: Any) -> str | None:
    if type(value) is str:
        return value or None
    return None if value is None else _structure_str(value, cls)


def _optional(inner: Callable[[Any, Any], T]) -> Callable[[Any, Any], T | None]:
    def hook(value: Any, cls: Any) -> T | None:
        if value is None or value == "":
            return None
        return inner(value, cls)

    return hook


_FLAT_TYPES = {
    typ | None if optional else typ
    for typ in (str, int, datetime, Decimal, bool)
    for optional in (False, True)
}


# The common case of each flat field type, inlined into the generated hook as an expression
# of ``v`` (the wire value); anything else goes to the field's registered hook.
_INLINE: dict[Any, str] = {
    str: "v if type(v) is str else {h}(v, {t})",
    str | None: "(v or None) if type(v) is str else {h}(v, {t})",
    int: "v if type(v) is int else {h}(v, {t})",
    int | None: "v if type(v) is int else {h}(v, {t})",
    datetime: "fromiso(v) if type(v) is str else {h}(v, {t})",
    datetime | None: "fromiso(v) if type(v) is str and v else {h}(v, {t})",
    Decimal: "Decimal(v) if type(v) is str and v else {h}(v, {t})",
    Decimal | None: "Decimal(v) if type(v) is str and v else {h}(v, {t})",
}


def _flat_fast_path(
    cls: type[Any], conv: Converter, detailed: Callable[[Any, Any], Any]
) -> Callable[[Any, Any], Any] | None:
    """A faster twin of cattrs' hook for flat records such as ``CallRecord``, or None.

    Same rules, but positional arguments, no per-field bookkeeping, and the
    usual wire type of each field converted inline (a string time straight to
    ``datetime.fromisoformat``): decoding a 100-row recordSipQuery page was
    the largest SDK-side cost of ``records()`` (benchmarks/bench_export.py).
    Any other value goes through the field's registered hook, and any failure
    (a time without an offset included) re-runs the detailed hook, which
    raises the error naming the field (or, for an absent field with a
    default, succeeds): the results are the detailed hook's in every case.
    """
    try:
        hints = typing.get_type_hints(cls)
    except Exception:
        return None
    fields = attrs.fields(cls)
    for field in fields:
        if not field.init or field.kw_only or hints.get(field.name) not in _FLAT_TYPES:
            return None
        if field.default is not attrs.NOTHING and field.default is not None:
            return None
    namespace: dict[str, Any] = {
        "cls": cls,
        "detailed": detailed,
        "fromiso": datetime.fromisoformat,
        "Decimal": Decimal,
    }
    lines = ["def fast(o, t):", "    try:", "        g = o.get"]
    for index, field in enumerate(fields):
        hint = hints[field.name]
        namespace[f"h{index}"] = conv.get_structure_hook(hint)
        namespace[f"t{index}"] = hint
        key = repr(camel(field.name))
        # A required field must be there (KeyError -> the detailed hook names it); an optional
        # one may be absent, and its hook turns the None from .get() into the None default.
        value = f"o[{key}]" if field.default is attrs.NOTHING else f"g({key})"
        inline = _INLINE.get(hint, "{h}(v, {t})").format(h=f"h{index}", t=f"t{index}")
        lines.append(f"        v = {value}")
        lines.append(f"        a{index} = {inline}")
        if hint in (datetime, datetime | None):
            # fromisoformat accepts a time without an offset; the wire rules do not.
            test = f"a{index}.tzinfo is None"
            if hint is not datetime:
                test = f"a{index} is not None and {test}"
            lines.append(f"        if {test}:")
            lines.append("            return detailed(o, t)")
    arguments = ", ".join(f"a{index}" for index in range(len(fields)))
    lines += [
        f"        return cls({arguments})",
        "    except Exception:",
        "        return detailed(o, t)",
    ]
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<laaffic_async fast structure {cls.__qualname__}>", "exec"), namespace)
    fast: Callable[[Any, Any], Any] = namespace["fast"]
    return fast


def _make_converter() -> Converter:
    conv = Converter()
    for typ, hook in (
        (datetime, _structure_time),
        (Decimal, _structure_decimal),
        (int, _structure_int),
        (str, _structure_str),
    ):
        conv.register_structure_hook(typ, hook)
        conv.register_structure_hook(typ | None, _optional(hook))
    conv.register_structure_hook(str | None, _optional_str)
    conv.register_structure_hook(bool | None, lambda v, _: None if v is None else bool(v))
    conv.register_unstructure_hook(datetime, unstructure_time)
    conv.register_unstructure_hook(Decimal, str)

    def structure_factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        renames = {a.name: override(rename=camel(a.name)) for a in attrs.fields(cls)}
        detailed = make_dict_structure_fn(cls, conv, **renames)  # type: ignore[arg-type]
        return _flat_fast_path(cls, conv, detailed) or detailed

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        # A field with metadata wire=False (Call.ref) is the caller's own, never sent.
        renames = {
            a.name: override(omit=True)
            if a.metadata.get("wire") is False
            else override(rename=camel(a.name), omit_if_default=True)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, conv, **renames)  # type: ignore[arg-type]

    conv.register_structure_hook_factory(attrs.has, structure_factory)
    conv.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return conv


_CONVERTER = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Build ``cls`` from decoded JSON, wire names and all.

    Raises ``ValueError`` naming every offending field (``$.records[3].submitTime``).
    """
    try:
        return _CONVERTER.structure(data, cls)
    except BaseValidationError as exc:
        raise ValueError("; ".join(_describe(exc, "$"))) from exc


def _describe(exc: BaseException, path: str) -> list[str]:
    """Flatten cattrs' exception groups into ``$.records[3].submitTime: why`` lines."""
    if not isinstance(exc, BaseExceptionGroup):
        return [f"{path}: {exc}"]
    lines: list[str] = []
    for inner in exc.exceptions:
        where = path
        for note in getattr(inner, "__notes__", []):
            name = getattr(note, "name", None)
            index = getattr(note, "index", None)
            if isinstance(name, str):
                where = f"{path}.{camel(name)}"
            elif isinstance(index, int):
                where = f"{path}[{index}]"
        lines.extend(_describe(inner, where))
    return lines


def to_wire(value: Any) -> Any:
    """Unstructure an attrs value into camelCase JSON data, omitting defaults."""
    return _CONVERTER.unstructure(value)
