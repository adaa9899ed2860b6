"""read_stock as a bulk operation: same figures as the paged read, typed failures, one export at a
time, an empty shop, hostile result lines, polling on the simulated clock."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from kade.errors import AuthRejected, NotFound, RejectedByStore, TransientError
from kade.plugins.shopify import bulkstock, common, plugin, queries
from kade.plugins.shopify import simulator as sm
from kade.types import ConnectionContext, StockPage


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> bulkstock.PollPolicy:
    policy = bulkstock.PollPolicy(first=1.0, factor=2.0, cap=4.0, max_wait=600.0)
    monkeypatch.setattr(bulkstock, "POLL", policy)
    return policy


def located(sim: sm.SimState, make_ctx: Any) -> ConnectionContext:
    return make_ctx(settings={"location_id": sm.gid("Location", sim.primary_location.id), "max_throttle_wait": 600})


def read_all(read: Any, ctx: ConnectionContext) -> tuple[list[tuple[str, str | None, int | None]], int]:
    items, pages, token = [], 0, None
    while True:
        page: StockPage = read(ctx, token)
        pages += 1
        items.extend((i.remote_product_id, i.sku, i.quantity) for i in page.items)
        if page.next_page_token is None:
            return items, pages
        token = page.next_page_token


def test_bulk_read_gives_the_figures_of_the_paged_read(sim, make_ctx, monkeypatch, sleeps):
    sim.seed_catalog(600)
    elsewhere = sim.add_location("Pop-up")
    sim.add_product("POPUP-ONLY", locations=[elsewhere], stock=5)
    both = sim.add_product("BOTH", locations=[sim.primary_location, elsewhere], stock=4)
    sim.level(both, elsewhere).available = 77
    sim.add_product(None, stock=-3)  # no SKU, oversold
    ctx = located(sim, make_ctx)
    paged, paged_pages = read_all(plugin.read_stock_paged, ctx)
    monkeypatch.setattr(bulkstock, "PAGE_BYTES", 4096)  # many windows, lines cut at their edges
    bulk, bulk_pages = read_all(plugin.read_stock, ctx)
    assert bulk == paged  # same items, same order, same figures
    assert len(bulk) == 607 and paged_pages == 3 and bulk_pages > 10
    assert ("gid://shopify/InventoryItem/" + str(both.inventory_item_id), "BOTH", 4) in bulk
    assert len(sim.bulk_operations) == 1 and sleeps  # one export, waited for on the simulated clock


def test_every_page_ends_on_a_line_boundary(sim, make_ctx, monkeypatch):
    sim.seed_catalog(100)
    ctx = located(sim, make_ctx)
    monkeypatch.setattr(bulkstock, "PAGE_BYTES", 1000)
    page = plugin.read_stock(ctx, None)
    [op] = sim.bulk_operations.values()
    whole = b"".join(sim.read_result(op, 0, op.file_size - 1))
    offsets = []
    while page.next_page_token:
        cursor = bulkstock.Cursor.from_token(common.decode_token(page.next_page_token))
        offsets.append(cursor.offset)
        page = plugin.read_stock(ctx, page.next_page_token)
    assert len(offsets) > 10 and offsets == sorted(set(offsets))
    assert all(whole[offset - 1 : offset] == b"\n" for offset in offsets)


def test_the_export_costs_a_few_points_not_three_per_level(sim, make_ctx):
    sim.seed_catalog(600)
    ctx = located(sim, make_ctx)
    before = sim.graphql_requests
    read_all(plugin.read_stock, ctx)
    # BULK_CURRENT + BULK_RUN + polls: the file itself is no GraphQL request
    assert sim.graphql_requests - before <= 5


@pytest.mark.parametrize(
    ("status", "code", "error", "kind"),
    [
        ("FAILED", "INTERNAL_SERVER_ERROR", TransientError, "bulk_failed"),
        ("FAILED", "TIMEOUT", TransientError, "bulk_failed"),
        ("FAILED", "ACCESS_DENIED", AuthRejected, "ACCESS_DENIED"),
        ("CANCELED", None, TransientError, "bulk_canceled"),
        ("EXPIRED", None, TransientError, "bulk_expired"),
    ],
)
def test_an_operation_that_does_not_complete_is_a_typed_error(sim, make_ctx, status, code, error, kind):
    sim.fail_next_bulk_operation(status, code)
    with pytest.raises(error) as err:
        plugin.read_stock(located(sim, make_ctx), None)
    assert err.value.code == kind
    assert type(err.value) is error
    if code:
        assert code in str(err.value)


def test_another_running_bulk_query_is_left_alone_and_reported(sim, make_ctx):
    foreign = sim.start_bulk_operation("legacy-custom-app", "{ products { edges { node { id } } } }", lambda: iter(()))
    ctx = make_ctx("admin_token", settings={"location_id": str(sim.primary_location.id)})
    with pytest.raises(TransientError) as err:
        plugin.read_stock(ctx, None)
    assert err.value.code == "OPERATION_IN_PROGRESS" and foreign.id in str(err.value)
    assert foreign.status == "RUNNING" and len(sim.bulk_operations) == 1  # not cancelled, nothing started


def test_a_race_for_the_one_slot_is_transient(sim, make_ctx, monkeypatch):
    other = sim.start_bulk_operation("legacy-custom-app", "{ products { edges { node { id } } } }", lambda: iter(()))
    # started after we looked: the look saw none running
    monkeypatch.setattr(sm.bulkroot._BulkRoot, "currentBulkOperation", lambda self, info, type="QUERY": None)
    ctx = make_ctx("admin_token", settings={"location_id": str(sim.primary_location.id)})
    with pytest.raises(TransientError) as err:
        plugin.read_stock(ctx, None)
    assert err.value.code == "OPERATION_IN_PROGRESS" and other.id in str(err.value)


def test_our_own_unfinished_export_is_adopted(sim, make_ctx, quick_polls, monkeypatch):
    ctx = located(sim, make_ctx)
    sim.bulk_polls = 50
    monkeypatch.setattr(bulkstock, "POLL", bulkstock.PollPolicy(first=1, factor=1, cap=1, max_wait=3))
    with pytest.raises(TransientError) as err:
        plugin.read_stock(ctx, None)
    assert err.value.code == "bulk_still_running"
    [op] = sim.bulk_operations.values()
    assert op.status == "RUNNING"
    sim.bulk_polls = op.polls + 2  # the look before starting is one poll, the wait another
    monkeypatch.setattr(bulkstock, "POLL", quick_polls)
    items, _ = read_all(plugin.read_stock, ctx)
    assert len(items) == 5 and list(sim.bulk_operations.values()) == [op] and op.status == "COMPLETED"


def test_polls_back_off_on_the_injected_clock(sim, make_ctx, sleeps, clock):
    sim.bulk_polls = 6
    start = clock.now()
    read_all(plugin.read_stock, located(sim, make_ctx))
    assert sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert clock.now() - start == pytest.approx(sum(sleeps), abs=1.0)


def test_a_shop_with_nothing_at_the_location(sim, make_ctx):
    ctx = located(sim, make_ctx)
    sim.levels.clear()
    assert read_all(plugin.read_stock, ctx) == ([], 1)
    [op] = sim.bulk_operations.values()
    assert op.object_count == 1  # the location's own line


def test_completed_without_a_file_is_an_empty_read(sim, make_ctx):
    ctx = located(sim, make_ctx)
    sim.primary_location.active = False  # exported by no search: Shopify answers url null
    page = plugin.read_stock(ctx, None)
    assert page == StockPage()
    [op] = sim.bulk_operations.values()
    assert op.status == "COMPLETED" and op.object_count == 0 and sim.result_url(op) is None


def test_an_unknown_location_is_not_found(sim, make_ctx):
    with pytest.raises(NotFound):
        plugin.read_stock(make_ctx(settings={"location_id": "999999"}), None)
    assert sim.bulk_operations == {}


HOSTILE = [
    b"{not json",
    b"[1, 2]",
    b'"a string"',
    b"[" * 10_000 + b"]" * 10_000,  # fits a window; deeper than the JSON parser recurses
    b'{"__parentId": "PARENT", "pad": "' + b"y" * 100_000 + b'"}',  # spans several windows
    b'{"__parentId": "PARENT", "item": {"id": 5}}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/1\\u0000"}, "quantities": []}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/91"}, '
    b'"quantities": [{"name": "available", "quantity": "12"}]}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/92"}, '
    b'"quantities": [{"name": "available", "quantity": 1e400}]}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/93"}, '
    b'"quantities": [{"name": "available", "quantity": 100000000000000000000000000000}]}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/94"}, '
    b'"quantities": [{"name": "available", "quantity": true}]}',
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/95"}, "quantities": 7}',
    b'{"__parentId": "PARENT", "item": ["gid://shopify/InventoryItem/96"]}',
    b'{"__parentId": "gid://shopify/Location/424242", "item": {"id": "gid://shopify/InventoryItem/97"}, '
    b'"quantities": [{"name": "available", "quantity": 1}]}',
    b"\xff\xfe not utf-8",
    b'{"__parentId": "PARENT", "item": {"id": "gid://shopify/InventoryItem/98", "sku": "' + b"x" * 20_000 + b'"}}',
]


def test_hostile_lines_are_skipped_one_by_one(sim, make_ctx, monkeypatch, caplog):
    ctx = located(sim, make_ctx)
    parent = sm.gid("Location", sim.primary_location.id)
    hostile = [line.replace(b"PARENT", parent.encode()) for line in HOSTILE]
    real = sim.start_bulk_operation

    def start(app: str, query: str, lines: Any) -> Any:
        def mixed() -> Any:
            for n, line in enumerate(lines()):
                yield line
                if n < len(hostile):
                    yield hostile[n].decode("utf-8", "surrogateescape")
        return real(app, query, mixed)

    monkeypatch.setattr(sim, "start_bulk_operation", start)
    sim.seed_catalog(40)
    monkeypatch.setattr(bulkstock, "PAGE_BYTES", 32_768)  # the 100 kB line spans windows, the 20 kB ones fit
    items, _ = read_all(plugin.read_stock, ctx)
    expected = {sm.gid("InventoryItem", v.inventory_item_id): sim.level(v).available for v in sim.variants.values()}
    got = {rid: qty for rid, _, qty in items}
    # every good level, nothing of the hostile lines but the one with a long (valid) SKU
    assert {k: v for k, v in got.items() if k in expected} == expected
    assert set(got) - set(expected) == {"gid://shopify/InventoryItem/98"}
    assert "unreadable line" in caplog.text


def test_a_line_longer_than_a_window_is_skipped_to_its_end(sim, make_ctx, monkeypatch):
    ctx = located(sim, make_ctx)
    monkeypatch.setattr(bulkstock, "PAGE_BYTES", 1024)
    real = sim.start_bulk_operation
    junk = json.dumps({"__parentId": "x", "pad": "y" * 5000})
    monkeypatch.setattr(sim, "start_bulk_operation",
                        lambda app, query, lines: real(app, query, lambda: iter([*lines(), junk, *lines()])))
    items, pages = read_all(plugin.read_stock, ctx)
    assert len(items) == 10 and pages >= 5


def test_a_failed_download_is_transient(sim, make_ctx):
    ctx = located(sim, make_ctx)
    sim.inject_download_fault("error", status=503)
    with pytest.raises(TransientError):
        plugin.read_stock(ctx, None)
    sim.inject_download_fault("timeout")
    first = sim.bulk_operations[max(sim.bulk_operations)]
    with pytest.raises(TransientError):
        bulkstock.read_page(ctx.http, bulkstock.Cursor(sim.result_url(first) or "", 0, "x"))
    assert sim.scripted_faults == []


def test_an_expired_result_url_is_transient(sim, make_ctx, clock):
    ctx = located(sim, make_ctx)
    plugin.read_stock(ctx, None)
    [op] = sim.bulk_operations.values()
    url = sim.result_url(op) or ""
    clock.advance(8 * 86_400)
    with pytest.raises(TransientError) as err:
        bulkstock.read_page(ctx.http, bulkstock.Cursor(url, 0, "x"))
    assert "ExpiredToken" in str(err.value)


def test_a_server_that_ignores_range_is_still_read_in_windows(monkeypatch):
    location = "gid://shopify/Location/1"
    lines = [
        json.dumps({"__parentId": location, "item": {"id": f"gid://shopify/InventoryItem/{n}", "sku": f"S{n}"},
                    "quantities": [{"name": "available", "quantity": n}]})
        for n in range(1, 200)
    ]
    body = ("\n".join([json.dumps({"id": location}), *lines]) + "\n").encode()
    monkeypatch.setattr(bulkstock, "PAGE_BYTES", 1000)
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    cursor: bulkstock.Cursor | None = bulkstock.Cursor("https://storage.example/result.jsonl", 0, location)
    got = []
    while cursor is not None:
        items, cursor = bulkstock.read_page(http, cursor)
        got.extend(i.quantity for i in items)
    assert got == list(range(1, 200))


def test_a_page_token_not_made_by_the_plugin_is_refused(make_ctx):
    with pytest.raises(RejectedByStore) as err:
        plugin.read_stock(make_ctx(), common.encode_token({"u": 5}))
    assert err.value.code == "bad_page_token"


def test_the_bulk_query_is_the_paged_query_as_an_export(official_schema):
    from graphql import parse, validate

    document = queries.bulk_stock_query("gid://shopify/Location/123")
    assert validate(official_schema, parse(document)) == []
    assert 'locations(query: "id:123")' in document
    with pytest.raises(ValueError):
        queries.bulk_stock_query('gid://shopify/Location/1") { x } #')


def test_a_window_without_bytes_before_the_end_is_transient():
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(206, content=b"", headers={"Content-Range": "bytes 0-0/500"})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    with pytest.raises(TransientError):
        bulkstock.read_page(http, bulkstock.Cursor("https://storage.example/r.jsonl", 0, "x"))
    ended = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(416)))
    assert bulkstock.read_page(ended, bulkstock.Cursor("https://storage.example/r.jsonl", 500, "x")) == ([], None)
