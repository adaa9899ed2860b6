"""A platform that serves prepared order pages, so tests can put any typed order on a page.

Real plugins can only produce what their mapping lets through; this one lets through anything,
which is how the core's own checks are tested (the core must hold even for a careless plugin).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kade import hookimpl
from kade.types import Capabilities, ConnectionContext, OrderPage, OrderQuery, PlatformSpec


@dataclass
class ReplayStore:
    #: pages per connection id, served in order (the token is the page index)
    pages: dict[int, list[OrderPage]] = field(default_factory=dict)
    #: called at the start of each page fetch (tests use it to interleave other work)
    on_fetch: Callable[[ConnectionContext, OrderQuery], None] | None = None
    queries: list[OrderQuery] = field(default_factory=list)


class ReplayPlatform:
    def __init__(self, store: ReplayStore) -> None:
        self.store = store

    @hookimpl
    def kade_register_platforms(self) -> list[PlatformSpec]:
        return [PlatformSpec(name="replay", title="Replayed pages", auth_methods=("token",),
                             default_auth_method="token", capabilities=Capabilities(order_poll_interval=60),
                             credential_fields={"token": ("token",)})]

    @hookimpl
    def import_orders(self, ctx: ConnectionContext, query: OrderQuery) -> OrderPage | None:
        if ctx.platform != "replay":
            return None
        self.store.queries.append(query)
        if self.store.on_fetch is not None:
            self.store.on_fetch(ctx, query)
        pages = self.store.pages.get(ctx.connection_id) or [OrderPage()]
        index = int(query.page_token or 0)
        page = pages[index]
        more = index + 1 < len(pages)
        return OrderPage(orders=page.orders, rejected=page.rejected,
                         next_page_token=str(index + 1) if more else None)
