"""migrate_connection: the new login is verified live before Kade switches to it."""

from __future__ import annotations

import pytest
from conftest import Shop

from kade.errors import AuthRejected
from kade.plugins.shopware import plugin
from kade.types import OrderQuery


def test_password_grant_to_integration_is_verified_with_a_token_and_a_read(admin_shop: Shop) -> None:
    ctx = admin_shop.ctx()
    plugin.import_orders(ctx, OrderQuery())
    method, credentials = admin_shop.harness.migration_target()
    before = len(admin_shop.transport.requests)
    result = plugin.migrate_connection(ctx, method, {**credentials, "note": "ignored"})
    assert result is not None and result.auth_method == "client_credentials"
    assert result.credentials == credentials  # only the fields the login needs are kept
    paths = admin_shop.transport.paths()[before:]
    assert paths == ["/api/oauth/token", "/api/oauth/token", "/api/search/order"]  # verify, then a real read
    # the old login kept working all along
    assert plugin.import_orders(ctx, OrderQuery()) is not None


def test_wrong_new_credentials_fail_and_change_nothing(admin_shop: Shop) -> None:
    ctx = admin_shop.ctx()
    with pytest.raises(AuthRejected, match="client_credentials grant"):
        plugin.migrate_connection(ctx, "client_credentials", {"client_id": "SWIAWRONG", "client_secret": "nope"})
    with pytest.raises(AuthRejected, match="lacks client_secret"):
        plugin.migrate_connection(ctx, "client_credentials", {"client_id": "SWIAX"})
    with pytest.raises(AuthRejected, match="no login method"):
        plugin.migrate_connection(ctx, "api_key", {})
    assert plugin.check_connection(ctx) is not None


def test_a_revoked_integration_cannot_be_migrated_to(admin_shop: Shop) -> None:
    method, credentials = admin_shop.harness.migration_target()
    admin_shop.sim.revoke(credentials["client_id"])
    with pytest.raises(AuthRejected):
        plugin.migrate_connection(admin_shop.ctx(), method, credentials)
