"""What every REST handler shares: the store, error answers, paging, date filters and sorting."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from kade.plugins.woocommerce.simulator.models import JSON, WPError
from kade.plugins.woocommerce.simulator.state import WooState
from kade.plugins.woocommerce.simulator.wp import Request, Response, Route


class ApiBase:
    """Helpers of the REST controllers; ``sim`` is the store."""

    sim: WooState
    routes: list[Route]

    @staticmethod
    def _error(err: WPError) -> Response:
        return Response(err.status, err.body(), dict(getattr(err, "headers", {})))

    def _page(self, request: Request, items: list[Any], render: Callable[[Any], JSON]) -> Response:
        per_page = int(request.params.get("per_page", 10))
        page = int(request.params.get("page", 1))
        offset = int(request.params.get("offset", (page - 1) * per_page))
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        chunk = items[offset : offset + per_page]
        base = f"{request.scheme}://{request.host}{request.path}"
        links = []
        query = {k: v for k, v in request.query.items() if not k.startswith(("oauth_", "consumer_"))}
        if page > 1:
            links.append(f'<{base}?{urlencode({**query, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{base}?{urlencode({**query, "page": page + 1})}>; rel="next"')
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        if links:
            headers["Link"] = ", ".join(links)
        return Response(200, [render(item) for item in chunk], headers)

    def _date_filter(
        self,
        request: Request,
        items: list[Any],
        created: Callable[[Any], datetime],
        modified: Callable[[Any], datetime],
    ) -> list[Any]:
        """``after``/``before`` on the created date, ``modified_*`` on the modified date.

        Without ``dates_are_gmt`` (or before WooCommerce 5.4) the filter values are compared with
        the store-local columns; before 5.8 ``modified_*`` do not exist and are ignored.
        """
        state = self.sim
        p = request.params
        gmt = bool(p.get("dates_are_gmt")) and state.supports("dates_are_gmt")

        def column(when: datetime) -> datetime:
            return (when.astimezone(UTC) if gmt else when.astimezone(state.tz)).replace(tzinfo=None)

        checks: list[tuple[str, Callable[[Any], datetime]]] = [("after", created), ("before", created)]
        if state.supports("modified_after"):
            checks += [("modified_after", modified), ("modified_before", modified)]
        for name, getter in checks:
            if name in p:
                bound: datetime = p[name]
                if name.endswith("after"):
                    items = [i for i in items if column(getter(i)) > bound]
                else:
                    items = [i for i in items if column(getter(i)) < bound]
        return items

    @staticmethod
    def _sort(request: Request, items: list[Any], keys: Mapping[str, Callable[[Any], Any]]) -> list[Any]:
        orderby = request.params.get("orderby", "date")
        key = keys.get(orderby, keys["date"])
        return sorted(items, key=key, reverse=request.params.get("order", "desc") == "desc")

    # Orders ---------------------------------------------------------------------------
