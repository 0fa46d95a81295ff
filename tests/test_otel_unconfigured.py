"""With the API installed but no provider configured, an attempt costs nothing; a provider
the application sets later is used from then on (within the recheck interval).

In a fresh interpreter, since OpenTelemetry's global providers can be set once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from laaffic_async._io import instrument, otel

    hooks = instrument.build()
    assert isinstance(hooks, otel.OtelInstrumentation)
    first = hooks.attempt("POST", "http://h/v3/voice/sendSip", "voice/sendSip", 1, {})
    assert type(first) is instrument.Attempt, type(first)  # nothing built while unconfigured
    hooks.dial_started()  # a dial that leaves before a provider is set ...

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    hooks._recheck_at = 0.0  # the interval has passed
    headers = {}
    later = hooks.attempt("POST", "http://h/v3/voice/sendSip", "voice/sendSip", 1, headers)
    later.answered(200)
    later.end()
    assert [span.name for span in exporter.get_finished_spans()] == ["POST voice/sendSip"]
    assert "traceparent" in headers
    hooks.dial_started()
    hooks.dial_ended()
    hooks.dial_ended()  # ... and ends after it: the in-flight count comes back to zero
    points = [
        point.value
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "laaffic.dial.in_flight"
        for point in metric.data.data_points
    ]
    assert points == [0], points
    print("ok")
    """
)


def test_attempts_are_free_until_a_provider_is_set() -> None:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
