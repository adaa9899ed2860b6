"""``/wc/v3/orders``: orders, notes and refunds."""

from __future__ import annotations

from kade.plugins.woocommerce.simulator.auth import AuthApi
from kade.plugins.woocommerce.simulator.models import Note, Order, WPError
from kade.plugins.woocommerce.simulator.wp import Request, Response


class OrdersApi(AuthApi):
    """Order controllers."""


    def _order(self, value: str | int, code: str = "woocommerce_rest_shop_order_invalid_id") -> Order:
        order = self.sim.orders.get(int(value))
        if order is None or order.status == "trash":
            message = "Invalid order ID." if code == "woocommerce_rest_order_invalid_id" else "Invalid ID."
            raise WPError(404, code, message)
        return order

    def list_orders(self, request: Request) -> Response:
        self._require(request, "list")
        p = request.params
        statuses = p.get("status", ["any"])
        orders = list(self.sim.orders.values())
        if "any" in statuses:
            orders = [o for o in orders if o.status not in ("trash", "checkout-draft")]
        else:
            orders = [o for o in orders if o.status in statuses]
        if p.get("include"):
            wanted = {int(i) for i in p["include"]}
            orders = [o for o in orders if o.id in wanted]
        if p.get("exclude"):
            unwanted = {int(i) for i in p["exclude"]}
            orders = [o for o in orders if o.id not in unwanted]
        orders = self._date_filter(request, orders, lambda o: o.created, lambda o: o.modified)
        orders = self._sort(
            request, orders, {"date": lambda o: o.created, "id": lambda o: o.id, "modified": lambda o: o.modified}
        )
        return self._page(request, orders, self.sim.render_order)

    def get_order(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self.sim.render_order(self._order(request.params["id"])))

    def update_order(self, request: Request) -> Response:
        self._require(request, "edit")
        order = self._order(request.params["id"])
        body = request.json()
        if "status" in body:
            self.sim._change_status(order, str(body["status"]))
        if isinstance(body.get("meta_data"), list):
            for entry in body["meta_data"]:
                existing = next((m for m in order.meta_data if m.get("key") == entry.get("key")), None)
                if existing is not None:
                    existing["value"] = entry.get("value")
                else:
                    order.meta_data.append(
                        {"id": self.sim.next_id("item"), "key": entry.get("key"), "value": entry.get("value")}
                    )
            order.modified = self.sim.now()
        self.sim.emit("order.updated", order)
        return Response(200, self.sim.render_order(order))

    def list_notes(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        kind = request.params.get("type", "any")
        notes = [n for n in order.notes if kind == "any" or (kind == "customer") == n.customer_note]
        notes.sort(key=lambda n: (n.created, n.id), reverse=True)
        return Response(200, [self.sim.render_note(n) for n in notes])

    def create_note(self, request: Request) -> Response:
        self._require(request, "create")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        text = str(request.params["note"]).strip()
        if not text:
            raise WPError(400, "woocommerce_rest_invalid_order_note", "Cannot create order note, please try again.")
        by_user = bool(request.params.get("added_by_user"))
        note = Note(
            self.sim.next_id("comment"),
            text,
            bool(request.params.get("customer_note")),
            self.sim.now(),
            "shop manager" if by_user else "WooCommerce",
        )
        order.notes.append(note)
        return Response(201, self.sim.render_note(note))

    def list_refunds(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        refunds = sorted(order.refunds, key=lambda r: r.created, reverse=True)
        return self._page(request, refunds, lambda r: self.sim.render_refund(order, r))

    # Products -------------------------------------------------------------------------
