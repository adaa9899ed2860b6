"""Per-connection HTTP clients share the process's TLS context.

Why: building a verifying TLS context loads the CA bundle (~20 ms CPU, ~0.8 MB). A worker keeps a
client per connection it served, so one context per client grew to 0.8 MB per connection per
worker process (40 GB at 50,000 connections; docs/scaling.md).
"""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from kade.app import Kade
from tests.support.factories import make_connection


def test_clients_of_many_connections_load_the_ca_bundle_at_most_once(kade: Kade, store: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[object] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    connections = [make_connection(kade, name=f"shop{n}") for n in range(5)]
    clients = {id(kade.http_client(conn)) for conn in connections}
    assert len(clients) == 5
    assert len(loads) <= 1
