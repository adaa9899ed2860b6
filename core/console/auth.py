"""Login and logout."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from kade.app import Kade
from kade.console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Ctx,
    Refused,
    checked_form,
    current,
    read_form,
    redirect,
    render,
    secure,
)
from kade.errors import UserError
from kade.operators import SESSION_LIFETIME, login, logout

router = APIRouter()


def _safe_next(base: str, target: str) -> str:
    """Only a path inside the console: never an open redirect."""
    if target.startswith(base + "/") and not target.startswith("//") and "\\" not in target:
        return target
    return base + "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200,
                next_path: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", status=status, csrf=token, error=error,
                      next=request.query_params.get("next", "") if next_path is None else next_path)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request),
                        path=request.scope.get("root_path", "") + "/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_model=None)
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(form.get("csrf", "").encode(), cookie.encode()):
        raise Refused(403, "the form's CSRF token is missing or wrong: reload the page and try again")
    kade: Kade = request.app.state.kade

    def attempt() -> str:
        with kade.db.transaction() as session:
            token, _ = login(session, form.get("username", "").strip(), form.get("password", ""))
            return token

    try:
        token = await run_in_threadpool(attempt)  # scrypt is deliberately slow: off the event loop
    except UserError as exc:
        return _login_page(request, error=str(exc), status=401, next_path=form.get("next", ""))
    base = request.scope.get("root_path", "")
    response = redirect(_safe_next(base, form.get("next", "")))
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=secure(request),
                        max_age=int(SESSION_LIFETIME.total_seconds()), path=base or "/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=base + "/login")
    return response


@router.post("/logout", response_model=None)
async def logout_submit(ctx: Ctx = Depends(current)) -> Response:
    await checked_form(ctx)
    with ctx.transaction() as session:
        logout(session, ctx.request.cookies.get(SESSION_COOKIE, ""))
    base = ctx.request.scope.get("root_path", "")
    response = redirect(base + "/login")
    response.delete_cookie(SESSION_COOKIE, path=base or "/")
    return response
