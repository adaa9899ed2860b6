"""The simulator is as strict as the real API where integrations notice: shapes, errors, methods."""

from __future__ import annotations

import httpx
import pytest

from kade.plugins.lightspeed.auth import app_password

EU = "https://api.webshopapp.com"


@pytest.fixture
def auth(key) -> httpx.BasicAuth:
    return httpx.BasicAuth(key.key, key.secret)


def test_answers_put_the_resource_key_first_and_carry_the_budget(http, auth, state, shop) -> None:
    state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    for path, key in (("orders", "orders"), ("orders/count", "count"), ("shop", "shop"), ("variants", "variants"),
                      ("account", "account"), ("account/ratelimit", "accountRatelimit"), ("shipments", "shipments")):
        answer = http.get(f"{EU}/nl/{path}.json", auth=auth)
        assert answer.status_code == 200, (path, answer.text)
        assert next(iter(answer.json())) == key
        assert answer.headers["x-ratelimit-limit"] == "300/3000/12000"


def test_errors_after_login_count_and_carry_the_budget_too(http, auth) -> None:
    missing = http.get(f"{EU}/nl/orders/999.json", auth=auth)
    assert missing.status_code == 404 and missing.json()["error"]["message"] == "Order not found"
    assert missing.headers["x-ratelimit-remaining"].startswith("299/")


def test_wrong_method_and_content_type_are_refused(http, auth, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 1)])
    assert http.delete(f"{EU}/nl/orders/{order.id}.json", auth=auth).status_code == 405
    form = http.put(f"{EU}/nl/orders/{order.id}.json", auth=auth, content=b"order[status]=cancelled",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and order.status != "cancelled"
    bad = http.put(f"{EU}/nl/orders/{order.id}.json", auth=auth, json={"order": {"status": "lost"}})
    assert bad.status_code == 400 and "'status'" in bad.json()["error"]["message"]


def test_paths_need_a_language_and_the_json_suffix(http, auth) -> None:
    assert http.get(f"{EU}/orders.json", auth=auth).status_code == 404
    assert http.get(f"{EU}/nl/orders", auth=auth).status_code == 404


def test_an_app_login_sees_its_own_account(http, state, shop) -> None:
    app = state.register_app()
    token = state.install_app(app, shop)
    answer = http.get(f"{EU}/en/account.json", auth=httpx.BasicAuth(app.key, app_password(token, app.secret)))
    assert answer.json()["account"] == {"id": shop.id, "app": True, "apiKey": app.key}


def test_shops_do_not_see_each_others_orders(http, auth, state) -> None:
    other = state.add_shop()
    foreign = state.create_order(other, [(state.add_variant(other, sku="X"), 1)])
    assert http.get(f"{EU}/nl/orders/{foreign.id}.json", auth=auth).status_code == 404
    assert http.get(f"{EU}/nl/orders.json", auth=auth).json() == {"orders": []}


def test_webhooks_crud(http, auth) -> None:
    body = {"webhook": {"itemGroup": "orders", "itemAction": "*", "address": "https://kade.example/h"}}
    created = http.post(f"{EU}/nl/webhooks.json", auth=auth, json=body)
    assert created.status_code == 201
    hook = created.json()["webhook"]
    assert hook["language"] == {"code": "nl"} and hook["isActive"] is True
    assert http.get(f"{EU}/nl/webhooks.json", auth=auth).json()["webhooks"] == [hook]
    assert http.delete(f"{EU}/nl/webhooks/{hook['id']}.json", auth=auth).status_code == 204
    assert http.get(f"{EU}/nl/webhooks/{hook['id']}.json", auth=auth).status_code == 404
    unknown = http.post(f"{EU}/nl/webhooks.json", auth=auth, json={"webhook": {**body["webhook"], "itemGroup": "x"}})
    assert unknown.status_code == 400


def test_shipments_filter_by_order_and_list_their_products(http, auth, state, shop) -> None:
    order = state.create_order(shop, [(state.add_variant(shop, sku="A"), 3)])
    state.create_order(shop, [(state.add_variant(shop, sku="B"), 1)])
    [shipment] = http.get(f"{EU}/nl/shipments.json", params={"order": order.id}, auth=auth).json()["shipments"]
    assert shipment["status"] == "not_shipped" and shipment["order"]["resource"]["id"] == order.id
    [line] = http.get(f"{EU}/nl/shipments/{shipment['id']}/products.json", auth=auth).json()["shipmentProducts"]
    assert (line["quantity"], line["sku"]) == (3, "A")
