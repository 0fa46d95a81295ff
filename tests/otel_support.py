"""OpenTelemetry test helpers: per-test SDK providers with in-memory exporters, and a sandbox
that remembers the headers it was sent.

Providers are handed to the client and the receiver (``tracer_provider=``, ``meter_provider=``),
never set globally: OpenTelemetry's global providers can be set once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from laaffic_async.testing import Sandbox
from laaffic_async.testing._app import Receive, Scope, Send


@attrs.define
class Telemetry:
    """One test's tracer and meter providers and what they exported."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider

    @property
    def providers(self) -> dict[str, Any]:
        return {"tracer_provider": self.tracer_provider, "meter_provider": self.meter_provider}

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        """Finished spans (named ``name`` if given), in the order they ended."""
        spans = list(self.exporter.get_finished_spans())
        return [s for s in spans if name is None or s.name == name]

    def points(self, metric: str) -> list[Any]:
        """The data points of ``metric`` (empty if it was never recorded)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        found: list[Any] = []
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for item in scope.metrics:
                    if item.name == metric:
                        found.extend(item.data.data_points)
        return found

    def total(self, metric: str, attributes: Mapping[str, object] | None = None) -> float:
        """The sum (counters) or count (histograms) of the points carrying ``attributes``."""
        value = 0.0
        for point in self.points(metric):
            labels = dict(point.attributes or {})
            if all(labels.get(key) == v for key, v in (attributes or {}).items()):
                value += point.count if hasattr(point, "count") else point.value
        return value


@pytest.fixture
def telemetry(caplog: pytest.LogCaptureFixture) -> Iterator[Telemetry]:
    """Fresh providers; at the end, OpenTelemetry must not have logged a problem
    (a context detached in the wrong task, say)."""
    caplog.set_level(logging.WARNING, logger="opentelemetry")
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    yield Telemetry(exporter, reader, tracer_provider, meter_provider)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    problems = [r for r in caplog.records if r.name.startswith("opentelemetry")]
    assert not problems, [r.getMessage() for r in problems]


class HeaderSandbox(Sandbox):
    """A sandbox that keeps every request's headers (lower-cased names), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[dict[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope["headers"]
            self.headers.append({k.decode().lower(): v.decode() for k, v in raw})
        await super().__call__(scope, receive, send)


def all_attribute_values(telemetry: Telemetry) -> list[str]:
    """Every string an exporter would see: span names, attributes, events, links, statuses,
    and every metric point's attributes."""
    texts: list[str] = []
    for span in telemetry.spans():
        texts.append(span.name)
        texts.extend(f"{k}={v!r}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{k}={v!r}" for k, v in (event.attributes or {}).items())
        for link in span.links:
            texts.extend(f"{k}={v!r}" for k, v in (link.attributes or {}).items())
        texts.append(str(span.status.description))
    data = telemetry.reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for item in scope.metrics:
                for point in item.data.data_points:
                    texts.extend(f"{k}={v!r}" for k, v in (point.attributes or {}).items())
    return texts
