"""``/wc/v3/products``: products, variations and their batches."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from kade.plugins.woocommerce.simulator.models import BATCH_LIMIT, JSON, Product, WPError
from kade.plugins.woocommerce.simulator.orders import OrdersApi
from kade.plugins.woocommerce.simulator.wp import Request, Response


class ProductsApi(OrdersApi):
    """Product and variation controllers."""


    def _product(self, value: str | int, *, parent: int | None = None) -> Product:
        product = self.sim.products.get(int(value))
        if parent is None:
            if product is None or product.type == "variation":
                raise WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
        elif product is None or product.parent_id != parent:
            raise WPError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return product

    def _filter_products(self, request: Request, products: list[Product]) -> Response:
        p = request.params
        if p.get("sku"):
            skus = {s.strip() for s in str(p["sku"]).split(",")}
            products = [x for x in products if x.sku in skus]
        if p.get("type"):
            products = [x for x in products if x.type == p["type"]]
        if p.get("status") and p["status"] != "any":
            products = [x for x in products if x.status == p["status"]]
        if p.get("include"):
            wanted = {int(i) for i in p["include"]}
            products = [x for x in products if x.id in wanted]
        products = self._date_filter(request, products, lambda x: x.created, lambda x: x.modified)
        products = self._sort(
            request,
            products,
            {
                "date": lambda x: (x.created, x.id),
                "id": lambda x: x.id,
                "modified": lambda x: x.modified,
                "title": lambda x: x.name,
                "slug": lambda x: x.name,
                "price": lambda x: (x.price, x.id),
            },
        )
        return self._page(request, products, self.sim.render_product)

    def list_products(self, request: Request) -> Response:
        self._require(request, "list")
        products = [x for x in self.sim.products.values() if x.type != "variation"]
        return self._filter_products(request, products)

    def list_variations(self, request: Request) -> Response:
        self._require(request, "list")
        parent = self._product(request.params["product_id"])
        variations = [self.sim.products[i] for i in parent.variation_ids]
        return self._filter_products(request, variations)

    def get_product(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_product(self._product(request.params["id"])))

    def get_variation(self, request: Request) -> Response:
        self._require(request, "view")
        parent = int(request.params["product_id"])
        return Response(200, self.sim.render_product(self._product(request.params["id"], parent=parent)))

    def _apply_product(self, product: Product, item: Mapping[str, Any]) -> None:
        """``prepare_object_for_database`` + save: stock only sticks when stock is managed."""
        if "stock_quantity" in item and item["stock_quantity"] is not None:
            value = item["stock_quantity"]
            if isinstance(value, bool) or not re.fullmatch(r"-?\d+", str(value)):
                raise WPError(
                    400,
                    "rest_invalid_param",
                    "Invalid parameter(s): stock_quantity",
                    params={"stock_quantity": "stock_quantity is not of type integer."},
                )
        if "manage_stock" in item:
            flag = item["manage_stock"]
            product.manage_stock = "parent" if flag == "parent" else str(flag).lower() in ("true", "1")
        if "sku" in item:
            clash = next(
                (x for x in self.sim.products.values() if x.sku == item["sku"] and x.id != product.id and item["sku"]),
                None,
            )
            if clash is not None:
                raise WPError(
                    400,
                    "product_invalid_sku",
                    "Invalid or duplicated SKU.",
                    resource_id=clash.id,
                    unique_sku=item["sku"],
                )
            product.sku = str(item["sku"])
        if "stock_quantity" in item and item["stock_quantity"] is not None:
            product.stock_quantity = int(item["stock_quantity"])
        if product.manage_stock is not True:
            product.stock_quantity = None
        product.modified = self.sim.now()
        self.sim.emit("product.updated", product)

    def update_product(self, request: Request) -> Response:
        self._require(request, "edit")
        product = self._product(request.params["id"])
        self._apply_product(product, request.json())
        return Response(200, self.sim.render_product(product))

    def update_variation(self, request: Request) -> Response:
        self._require(request, "edit")
        product = self._product(request.params["id"], parent=int(request.params["product_id"]))
        self._apply_product(product, request.json())
        return Response(200, self.sim.render_product(product))

    def _batch(self, request: Request, find: Callable[[Any], Product]) -> Response:
        self._require(request, "batch")
        body = request.json()
        if not isinstance(body, dict):
            raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.")
        groups = {k: body.get(k) or [] for k in ("create", "update", "delete")}
        if sum(len(v) for v in groups.values()) > BATCH_LIMIT:
            raise WPError(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {BATCH_LIMIT} items for this request.",
            )
        out: JSON = {}
        if groups["update"]:
            results = []
            for item in groups["update"]:
                item_id = item.get("id", 0) if isinstance(item, dict) else 0
                try:
                    if not isinstance(item, dict):
                        raise WPError(400, "rest_invalid_param", "Invalid parameter(s): update")
                    product = find(item_id)
                    self._apply_product(product, item)
                    results.append(self.sim.render_product(product))
                except WPError as err:
                    results.append({"id": item_id, "error": err.body()})
            out["update"] = results
        if groups["create"]:
            out["create"] = [
                {
                    "id": 0,
                    "error": WPError(
                        400, "woocommerce_rest_cannot_create", "Creating products is not supported by this store."
                    ).body(),
                }
                for _ in groups["create"]
            ]
        if groups["delete"]:
            out["delete"] = [
                {
                    "id": d,
                    "error": WPError(
                        400, "woocommerce_rest_cannot_delete", "Deleting products is not supported by this store."
                    ).body(),
                }
                for d in groups["delete"]
            ]
        return Response(200, out)

    def batch_products(self, request: Request) -> Response:
        return self._batch(request, lambda item_id: self._product(item_id))

    def batch_variations(self, request: Request) -> Response:
        parent = self._product(request.params["product_id"])
        return self._batch(request, lambda item_id: self._product(item_id, parent=parent.id))

    # Webhooks -------------------------------------------------------------------------
