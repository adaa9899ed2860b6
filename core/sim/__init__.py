"""Building blocks shared by the platform simulators (stateful ASGI apps used by tests,
the demo and benchmarks)."""
