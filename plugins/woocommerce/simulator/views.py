"""The store's REST views of orders, refunds, notes, products and webhooks."""

from __future__ import annotations

import re

from kade.plugins.woocommerce.simulator.base import StoreBase
from kade.plugins.woocommerce.simulator.models import JSON, Note, Order, Product, Refund, Webhook


class ViewState(StoreBase):
    """The bodies the REST API answers, built from the state."""

    def render_order(self, order: Order) -> JSON:
        data: JSON = {
            "id": order.id,
            "parent_id": 0,
            "status": order.status,
            "currency": order.currency,
            "version": self.wc_version,
            "prices_include_tax": True,
            "date_created": self.local(order.created),
            "date_modified": self.local(order.modified),
            "discount_total": "0.00",
            "discount_tax": "0.00",
            "shipping_total": f"{order.shipping_total:.2f}",
            "shipping_tax": "0.00",
            "cart_tax": "0.00",
            "total": f"{order.total:.2f}",
            "total_tax": "0.00",
            "customer_id": 0,
            "order_key": order.order_key,
            "billing": dict(order.billing),
            "shipping": dict(order.shipping),
            "payment_method": order.payment_method,
            "payment_method_title": "iDEAL",
            "transaction_id": "",
            "customer_ip_address": "",
            "customer_user_agent": "",
            "created_via": "checkout",
            "customer_note": order.customer_note,
            "date_completed": self.local(order.completed),
            "date_paid": self.local(order.created),
            "cart_hash": "",
            "number": order.number,
            "meta_data": list(order.meta_data),
            "line_items": [
                {
                    "id": li.id,
                    "name": li.name,
                    "product_id": li.product_id,
                    "variation_id": li.variation_id,
                    "quantity": li.quantity,
                    "tax_class": "",
                    "subtotal": f"{li.price * li.quantity:.2f}",
                    "subtotal_tax": "0.00",
                    "total": f"{li.price * li.quantity:.2f}",
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                    "sku": li.sku,
                    "price": float(li.price),
                    "parent_name": None,
                }
                for li in order.line_items
            ],
            "tax_lines": [],
            "shipping_lines": [
                {
                    "id": order.id * 10,
                    "method_title": "Flat rate",
                    "method_id": "flat_rate",
                    "total": f"{order.shipping_total:.2f}",
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
            ],
            "fee_lines": [],
            "coupon_lines": [],
            "refunds": [{"id": r.id, "reason": r.reason, "total": f"-{r.amount:.2f}"} for r in order.refunds],
            "date_created_gmt": self.gmt(order.created),
            "date_modified_gmt": self.gmt(order.modified),
            "date_completed_gmt": self.gmt(order.completed),
            "date_paid_gmt": self.gmt(order.created),
            "currency_symbol": "€" if order.currency == "EUR" else "$",
            "_links": {
                "self": [{"href": f"/wp-json/wc/v3/orders/{order.id}"}],
                "collection": [{"href": "/wp-json/wc/v3/orders"}],
            },
        }
        for key, value in order.patch.items():
            if value is ...:
                data.pop(key, None)
            else:
                data[key] = value
        return data

    def render_refund(self, order: Order, refund: Refund) -> JSON:
        items = {li.id: li for li in order.line_items}
        return {
            "id": refund.id,
            "date_created": self.local(refund.created),
            "date_created_gmt": self.gmt(refund.created),
            "amount": f"{refund.amount:.2f}",
            "reason": refund.reason,
            "refunded_by": 1,
            "refunded_payment": False,
            "meta_data": [],
            "line_items": [
                {
                    "id": refund.id * 100 + n,
                    "name": items[item_id].name,
                    "product_id": items[item_id].product_id,
                    "variation_id": items[item_id].variation_id,
                    "quantity": -qty,
                    "subtotal": f"-{items[item_id].price * qty:.2f}",
                    "total": f"-{items[item_id].price * qty:.2f}",
                    "sku": items[item_id].sku,
                    "price": -float(items[item_id].price),
                    "meta_data": [{"id": 0, "key": "_refunded_item_id", "value": str(item_id)}],
                }
                for n, (item_id, qty) in enumerate(refund.quantities.items())
                if item_id in items
            ],
        }

    def render_note(self, note: Note) -> JSON:
        return {
            "id": note.id,
            "author": note.author,
            "date_created": self.local(note.created),
            "date_created_gmt": self.gmt(note.created),
            "note": note.note,
            "customer_note": note.customer_note,
        }

    def render_product(self, product: Product) -> JSON:
        data: JSON = {
            "id": product.id,
            "name": product.name,
            "slug": re.sub(r"[^a-z0-9]+", "-", product.name.lower()).strip("-"),
            "date_created": self.local(product.created),
            "date_created_gmt": self.gmt(product.created),
            "date_modified": self.local(product.modified),
            "date_modified_gmt": self.gmt(product.modified),
            "type": product.type,
            "status": product.status,
            "sku": product.sku,
            "price": f"{product.price:.2f}",
            "regular_price": f"{product.price:.2f}",
            "sale_price": "",
            "manage_stock": product.manage_stock,
            "stock_quantity": product.stock_quantity,
            "stock_status": product.stock_status,
            "backorders": product.backorders,
            "backorders_allowed": product.backorders != "no",
            "meta_data": list(product.meta_data),
        }
        if product.type == "variation":
            data.pop("type")
            data.pop("slug")
            data["permalink"] = f"/?p={product.parent_id}&variation={product.id}"
        else:
            data["parent_id"] = product.parent_id
            data["variations"] = list(product.variation_ids)
        if self.supports("global_unique_id"):
            data["global_unique_id"] = product.global_unique_id
        return data

    def render_webhook(self, hook: Webhook) -> JSON:
        resource, _, event = hook.topic.partition(".")
        return {
            "id": hook.id,
            "name": hook.name,
            "status": hook.status,
            "topic": hook.topic,
            "resource": resource,
            "event": event,
            "hooks": [f"woocommerce_{event}_{resource}"],
            "delivery_url": hook.delivery_url,
            "date_created": self.local(hook.created),
            "date_created_gmt": self.gmt(hook.created),
        }

    # ------------------------------------------------------------------ webhooks
