"""The console's plumbing: templates, the logged-in operator, CSRF-checked forms, scoping.

Every page needs a live session (cookie ``kade_session``: HttpOnly, SameSite=Lax, Secure over
https). Every POST carries the session's CSRF token in a hidden field; a form without it, or with
another session's, is refused with 403 before anything runs. The login form, which has no
session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from kade.app import Kade
from kade.health import health
from kade.models import Connection, OperatorSession, Tenant
from kade.operators import OperatorView, session_of, visible_tenants
from kade.runtime import Runtime

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
SESSION_COOKIE = "kade_session"
LOGIN_CSRF_COOKIE = "kade_login_csrf"
MAX_FORM = 64 * 1024


class LoginRequired(Exception):
    """No live session: the handler answers with a redirect to the login page."""


class Refused(Exception):
    """A request the console refuses outright (CSRF, another tenant's page): status + message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Ctx:
    """One request's operator, their session and the app's Kade."""

    request: Request
    kade: Kade
    runtime: Runtime
    who: OperatorView
    login: OperatorSession

    @property
    def tenant_ids(self) -> set[int] | None:
        return self.who.tenant_ids

    @property
    def actor(self) -> str:
        return f"console:{self.who.username}"

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.kade.db.session() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with self.kade.db.transaction() as session:
            yield session

    def tenant(self, session: Session, slug: str) -> Tenant:
        """A tenant the operator may see; any other looks exactly like one that does not exist."""
        for tenant in visible_tenants(session, self.who):
            if tenant.slug == slug:
                return tenant
        raise Refused(404, f"no tenant {slug!r}")

    def connection(self, session: Session, connection_id: int) -> Connection:
        conn = session.get(Connection, connection_id) if 0 < connection_id < 2**63 else None
        if conn is None or not self.who.sees(conn.tenant_id):
            raise Refused(404, f"no connection {connection_id}")
        return conn

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(self.request, template, status=status, ctx=self, **values)


def render(request: Request, template: str, *, status: int = 200, ctx: Ctx | None = None,
           **values: Any) -> HTMLResponse:
    alerts: list[str] = []
    if ctx is not None and ctx.tenant_ids is None:
        alerts = health(ctx.kade).alerts  # operator-wide figures: for all-tenant operators only
    context = {"ctx": ctx, "alerts": alerts, "base": request.scope.get("root_path", ""), **values}
    return templates.TemplateResponse(request, template, context, status_code=status)


def current(request: Request) -> Ctx:
    """The dependency every page has: the operator behind the session cookie, or LoginRequired."""
    kade: Kade = request.app.state.kade
    token = request.cookies.get(SESSION_COOKIE, "")
    with kade.db.session() as session:
        found = session_of(session, token)
    if found is None:
        raise LoginRequired()
    login, who = found
    return Ctx(request=request, kade=kade, runtime=request.app.state.runtime, who=who, login=login)


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form (first value of each field); an oversized body is refused."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise Refused(413, "the form is too large")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused(400, "the form is not UTF-8") from None
    return {key: values[0] for key, values in parsed.items()}


async def checked_form(ctx: Ctx) -> dict[str, str]:
    """The form, once its CSRF token matched this session's."""
    form = await read_form(ctx.request)
    if not hmac.compare_digest(form.get("csrf", "").encode(), ctx.login.csrf_token.encode()):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page and try again")
    return form


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(f"{request.scope.get('root_path', '')}/login?next={quote(target)}")


def secure(request: Request) -> bool:
    return request.url.scheme == "https"
