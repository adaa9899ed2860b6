"""WooCommerce products and stock: pages of products with their variations, and stock set
through the batch endpoints, item by item in the answer."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kade.errors import NotFound, OutcomeUnknown, RejectedByStore, TransientError
from kade.mapping import MappingError
from kade.plugins.woocommerce.client import PAGE_SIZE, WooClient, total_pages
from kade.plugins.woocommerce.mapping import parse_product_ref, to_remote_product
from kade.types import ConnectionContext, RejectedRecord, RemoteProduct, StockResult, StockUpdate

#: WooCommerce's default batch limit
BATCH_SIZE = 100


def product_page(
    ctx: ConnectionContext, page_token: str | None
) -> tuple[list[RemoteProduct], list[RejectedRecord], str | None]:
    """One page of products; variable products bring all their variations along."""
    try:
        page = int(page_token) if page_token else 1
    except ValueError:
        raise RejectedByStore(f"invalid WooCommerce page token {page_token!r}", code="invalid_page_token") from None
    client = WooClient(ctx)
    meta_key = str(ctx.settings.get("ean_meta_key") or "")
    response = client.request(
        "GET", "products", params={"per_page": PAGE_SIZE, "page": page, "orderby": "id", "order": "asc"}
    )
    items = response.json()
    products: list[RemoteProduct] = []
    rejected: list[RejectedRecord] = []
    for raw in items if isinstance(items, list) else []:
        try:
            kind = raw.get("type")
            if kind == "variable":
                if raw.get("manage_stock") is True:
                    products.append(to_remote_product(raw, ean_meta_key=meta_key))
                parent_id = int(raw["id"])
                for variation in all_pages(client, f"products/{parent_id}/variations"):
                    try:
                        products.append(to_remote_product(variation, parent_id=parent_id, ean_meta_key=meta_key))
                    except (MappingError, ValueError) as exc:
                        rejected.append(
                            RejectedRecord(
                                remote_id=f"{parent_id}/{variation.get('id')}", reason=str(exc), raw=variation
                            )
                        )
            elif kind in ("grouped", "external"):
                continue  # no stock of their own
            else:
                products.append(to_remote_product(raw, ean_meta_key=meta_key))
        except (MappingError, ValueError, KeyError, AttributeError) as exc:
            remote_id = str(raw.get("id", "?")) if isinstance(raw, dict) else "?"
            rejected.append(
                RejectedRecord(
                    remote_id=remote_id, reason=f"unreadable product: {exc}", raw=raw if isinstance(raw, dict) else {}
                )
            )
    count = len(items) if isinstance(items, list) else 0
    next_token = str(page + 1) if page < total_pages(response.headers, page, count) else None
    return products, rejected, next_token


def all_pages(client: WooClient, path: str) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        response = client.request("GET", path, params={"per_page": PAGE_SIZE, "page": page})
        items = response.json()
        yield from (i for i in items if isinstance(i, dict))
        if page >= total_pages(response.headers, page, len(items)):
            return
        page += 1


def push(ctx: ConnectionContext, updates: Sequence[StockUpdate]) -> list[StockResult]:
    """Set absolute stock levels: simple products through ``products/batch``, variations through
    their parent's ``variations/batch``, at most ``BATCH_SIZE`` items a call."""
    results: dict[str, StockResult] = {}
    groups: dict[int, dict[int, StockUpdate]] = {}  # parent id (0: simple products) → item id → update
    for update in updates:
        try:
            product_id, variation_id = parse_product_ref(update.remote_product_id)
        except MappingError as exc:
            results[update.remote_product_id] = StockResult(
                remote_product_id=update.remote_product_id, ok=False, error=str(exc), error_kind="invalid_reference"
            )
            continue
        if variation_id:
            groups.setdefault(product_id, {})[variation_id] = update
        else:
            groups.setdefault(0, {})[product_id] = update
    client = WooClient(ctx)
    for parent_id, items in groups.items():
        path = f"products/{parent_id}/variations/batch" if parent_id else "products/batch"
        chunk_ids = list(items)
        for start in range(0, len(chunk_ids), BATCH_SIZE):
            chunk = {i: items[i] for i in chunk_ids[start : start + BATCH_SIZE]}
            body = {"update": [{"id": i, "stock_quantity": u.quantity} for i, u in chunk.items()]}
            try:
                answer = client.send("POST", path, body)
            except OutcomeUnknown as exc:
                # stock levels are absolute: sending the same batch again is safe
                raise TransientError(exc.message, status_code=exc.status_code, code=exc.code) from exc
            except (NotFound, RejectedByStore) as exc:
                for update in chunk.values():
                    results[update.remote_product_id] = StockResult(
                        remote_product_id=update.remote_product_id,
                        ok=False,
                        error=exc.message,
                        error_kind=exc.code or exc.kind,
                    )
                continue
            results.update(_batch_results(answer, chunk))
    return [results[u.remote_product_id] for u in _unique(updates)]


def _unique(updates: Sequence[StockUpdate]) -> list[StockUpdate]:
    seen: dict[str, StockUpdate] = {}
    for update in updates:
        seen[update.remote_product_id] = update
    return list(seen.values())


def _batch_results(answer: Any, chunk: Mapping[int, StockUpdate]) -> dict[str, StockResult]:
    """Per-item outcomes of a batch answer ``{"update": [object | {id, error}]}``."""
    out: dict[str, StockResult] = {}
    answered = answer.get("update") if isinstance(answer, dict) else None
    for item in answered if isinstance(answered, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            update = chunk.get(int(item.get("id") or 0))
        except (TypeError, ValueError):
            update = None
        if update is None:
            continue
        ref = update.remote_product_id
        error = item.get("error")
        if isinstance(error, dict):
            out[ref] = StockResult(
                remote_product_id=ref,
                ok=False,
                error=str(error.get("message") or error),
                error_kind=str(error.get("code") or "rejected"),
            )
        elif item.get("manage_stock") is not True:
            where = "on the parent product" if item.get("manage_stock") == "parent" else "off"
            out[ref] = StockResult(
                remote_product_id=ref,
                ok=False,
                error=f"stock management is {where} for this product in WooCommerce; stock was not set",
                error_kind="stock_not_managed",
            )
        elif item.get("stock_quantity") != update.quantity:
            out[ref] = StockResult(
                remote_product_id=ref,
                ok=False,
                error_kind="not_applied",
                error=f"store kept stock {item.get('stock_quantity')!r}, not {update.quantity}",
            )
        else:
            out[ref] = StockResult(remote_product_id=ref, ok=True)
    for update in chunk.values():
        out.setdefault(
            update.remote_product_id,
            StockResult(
                remote_product_id=update.remote_product_id,
                ok=False,
                error_kind="no_result",
                error="WooCommerce's batch answer did not mention this item",
            ),
        )
    return out
