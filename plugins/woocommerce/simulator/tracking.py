"""The Shipment Tracking extension's ``/wc-shipment-tracking/v3`` routes."""

from __future__ import annotations

import hashlib

from kade.plugins.woocommerce.simulator.models import JSON, TRACKING_PROVIDERS, Order, Tracking, WPError
from kade.plugins.woocommerce.simulator.webhooks import WebhooksApi
from kade.plugins.woocommerce.simulator.wp import Request, Response


class TrackingApi(WebhooksApi):
    """Tracking-item and provider controllers."""


    def _render_tracking(self, t: Tracking) -> JSON:
        template = TRACKING_PROVIDERS.get(t.tracking_provider, "")
        link = t.custom_tracking_link or template.replace("%1$s", t.tracking_number).replace("%2$s", "")
        return {
            "tracking_id": t.tracking_id,
            "tracking_provider": t.tracking_provider,
            "tracking_link": link,
            "tracking_number": t.tracking_number,
            "date_shipped": t.date_shipped,
            "custom_tracking_provider": t.custom_tracking_provider,
            "custom_tracking_link": t.custom_tracking_link,
        }

    def list_trackings(self, request: Request) -> Response:
        self._require(request, "list")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        return Response(200, [self._render_tracking(t) for t in order.trackings])

    def create_tracking(self, request: Request) -> Response:
        self._require(request, "create")
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        p = request.params
        number = str(p["tracking_number"]).strip()
        provider = str(p.get("tracking_provider") or "")
        custom = str(p.get("custom_tracking_provider") or "")
        if not number or not (provider or custom):
            raise WPError(
                400, "woocommerce_shipment_tracking_missing_provider", "Missing tracking provider or tracking number."
            )
        tracking = Tracking(
            tracking_id=hashlib.md5(f"{order.id}{number}{len(order.trackings)}".encode()).hexdigest(),
            tracking_provider=provider,
            tracking_number=number,
            date_shipped=str(p.get("date_shipped") or self.sim.now().date().isoformat()),
            custom_tracking_provider=custom,
            custom_tracking_link=str(p.get("custom_tracking_link") or ""),
        )
        order.trackings.append(tracking)
        return Response(201, self._render_tracking(tracking))

    def _find_tracking(self, request: Request) -> tuple[Order, Tracking]:
        order = self._order(request.params["order_id"], "woocommerce_rest_order_invalid_id")
        for t in order.trackings:
            if t.tracking_id == request.match["tracking_id"]:
                return order, t
        raise WPError(404, "woocommerce_rest_order_invalid_id", "Invalid tracking ID.")

    def get_tracking(self, request: Request) -> Response:
        self._require(request, "view")
        return Response(200, self._render_tracking(self._find_tracking(request)[1]))

    def delete_tracking(self, request: Request) -> Response:
        self._require(request, "delete")
        order, tracking = self._find_tracking(request)
        order.trackings.remove(tracking)
        return Response(200, {"message": "Successfully deleted the tracking item."})

    def list_providers(self, request: Request) -> Response:
        self._require(request, "list")
        return Response(
            200,
            {
                "Netherlands": {k: v for k, v in TRACKING_PROVIDERS.items() if k == "PostNL"},
                "Global": {k: v for k, v in TRACKING_PROVIDERS.items() if k != "PostNL"},
            },
        )

    # wc-auth (WC_Auth) -----------------------------------------------------------------
