"""Fixtures for the Magento plugin tests (helpers live in ``magento_testkit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from magento_testkit import Magento, make_magento


@pytest.fixture
def magento_factory() -> Iterator[Callable[..., Magento]]:
    made: list[Magento] = []

    def factory(**options: Any) -> Magento:
        made.append(make_magento(**options))
        return made[-1]

    yield factory
    for m in made:
        m.close()


@pytest.fixture
def magento(magento_factory: Callable[..., Magento]) -> Magento:
    return magento_factory()
