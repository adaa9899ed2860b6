"""Fixtures for the warehouse API: the serve app over a database with two tenants."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kade.api import create_api
from kade.app import Kade
from kade.runtime import Runtime
from tests.webapi.world import World, build_world


@pytest.fixture
def world(kade: Kade, store) -> World:
    return build_world(kade, store)


@pytest.fixture
def client(kade: Kade) -> Iterator[TestClient]:
    runtime = Runtime(kade)
    with TestClient(create_api(kade, runtime), raise_server_exceptions=False) as c:
        yield c
    runtime.broker.close()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
