"""The simulator app: routes, the fault layer and the demo account."""

from __future__ import annotations

from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kade.plugins.bol.protocol import CSV_TYPE, JSON_TYPE
from kade.plugins.bol.simulator.gateway import _endpoint, problem
from kade.plugins.bol.simulator.login import authorize_endpoint, token_endpoint
from kade.plugins.bol.simulator.offers import create_offer_export, get_offer_export, update_offer_stock
from kade.plugins.bol.simulator.orders import cancel_order_item, get_order, get_orders
from kade.plugins.bol.simulator.process_status import bulk_process_statuses, find_process_statuses, get_process_status
from kade.plugins.bol.simulator.shipments import create_shipment, get_shipments
from kade.plugins.bol.simulator.state import BolSimState
from kade.sim.base import Faults, SimClock
from kade.sim.faults import Answer, FaultLayer, retry_after_text


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not Found", 405: "Method Not Allowed"}
    return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), instance=str(request.url))


# --------------------------------------------------------------------------------------------
# The app


def _error_answer(status: int) -> Answer:
    """A gateway failure as bol answers it: a problem body in the vendor media type."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return _problem_answer(problem(status, title, "The service is temporarily unavailable, please retry later."))


def _rate_limited_answer(seconds: float) -> Answer:
    wait = retry_after_text(seconds)
    return _problem_answer(problem(429, "Too Many Requests", f"Too many requests, retry in {wait} seconds.",
                                   headers={"Retry-After": wait}))


def _problem_answer(response: Response) -> Answer:
    headers = {k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")}
    return Answer(response.status_code, bytes(response.body), response.media_type or JSON_TYPE, headers)


class BolSimulator(FaultLayer):
    """The simulator app: bol's routes behind ``kade.sim``'s fault layer.

    ``app.state.sim`` is the ``BolSimState``; faults come from its ``faults`` (at random) and
    ``scripted_faults`` (``BolSimState.inject``).
    """

    def __init__(self, app: Starlette, state: BolSimState) -> None:
        super().__init__(app, state, error=_error_answer, rate_limited=_rate_limited_answer)


#: credentials a state made by ``create_app()`` accepts (demo and benchmarks)
DEMO_RETAILER_CLIENTS = {"demo-retailer": "demo-retailer-secret"}
DEMO_INTERMEDIARY_CLIENTS = {"kade-partner": "kade-partner-secret"}


def create_app(
    state: BolSimState | None = None,
    *,
    seed: int = 0,
    faults: Faults | None = None,
    clock: SimClock | None = None,
    orders: int = 0,
) -> BolSimulator:
    """Build the simulator.

    :param state: the account to serve; when None, a new one that accepts
        ``DEMO_RETAILER_CLIENTS`` and ``DEMO_INTERMEDIARY_CLIENTS``.
    :param orders: how many orders to generate into a new state (demo and benchmarks).
    """
    if state is None:
        state = BolSimState(clock=clock, seed=seed, faults=faults)
        for client_id, secret in DEMO_RETAILER_CLIENTS.items():
            state.add_retailer_client(client_id, secret)
        for client_id, secret in DEMO_INTERMEDIARY_CLIENTS.items():
            state.add_intermediary_client(client_id, secret)
        if orders:
            state.generate(orders)
    else:
        if clock is not None and clock is not state.clock:
            raise ValueError("pass the clock to BolSimState, not to create_app, when giving a state")
        if faults is not None:
            state.faults = faults
    api = _endpoint
    routes = [
        Route("/token", token_endpoint, methods=["POST"]),
        Route("/authorize", authorize_endpoint, methods=["GET"]),
        Route("/retailer/orders", api("orders:list", get_orders), methods=["GET"]),
        Route("/retailer/orders/cancellation", api("orders:cancel", cancel_order_item), methods=["PUT"]),
        Route("/retailer/orders/{order_id}", api("orders:detail", get_order), methods=["GET"]),
        Route("/retailer/shipments", api("shipments:list", get_shipments), methods=["GET"]),
        Route("/retailer/shipments", api("shipments:create", create_shipment), methods=["POST"]),
        Route("/retailer/offers/export", api("offers:export:create", create_offer_export), methods=["POST"]),
        Route(
            "/retailer/offers/export/{report_id}",
            api("offers:export:get", get_offer_export, accept=CSV_TYPE),
            methods=["GET"],
        ),
        Route("/retailer/offers/{offer_id}/stock", api("offers:update", update_offer_stock), methods=["PUT"]),
        Route("/shared/process-status", api("process-status", find_process_statuses), methods=["GET"]),
        Route("/shared/process-status", api("process-status", bulk_process_statuses), methods=["POST"]),
        Route("/shared/process-status/{process_id}", api("process-status", get_process_status), methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = state
    return BolSimulator(app, state)
