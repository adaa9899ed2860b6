"""The operator console: server-rendered pages under ``/console`` of ``kade serve``.

Every page calls the same core functions the CLI and the warehouse API do; the console holds
only presentation, the session and CSRF checks, and the job runner that shows progress.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from kade.app import Kade
from kade.console import auth, connect, connections, overview, records, work
from kade.console.jobs import Jobs
from kade.console.web import HERE, LoginRequired, Refused, login_redirect, render
from kade.runtime import Runtime


def console_app(kade: Kade, runtime: Runtime) -> FastAPI:
    """The console as its own ASGI app, mounted at ``/console`` by ``kade.api.create_api``."""
    app = FastAPI(title="Kade console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.kade = kade
    app.state.runtime = runtime
    app.state.jobs = Jobs()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for module in (auth, overview, connect, connections, work, records):
        app.include_router(module.router)

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(Refused)
    def _refused(request: Request, exc: Refused) -> Response:
        return render(request, "error.html", status=exc.status, message=exc.message)

    @app.middleware("http")
    async def _headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        if "text/html" in response.headers.get("content-type", ""):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app
