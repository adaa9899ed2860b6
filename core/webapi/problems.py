"""RFC 9457 problem documents: one stable ``type`` per error, validation errors naming the field.

Every failure the API can produce is listed in ``PROBLEMS`` (and so in the OpenAPI document);
anything unforeseen still answers as a problem document, never as an HTML page or a bare 500.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from kade.errors import ConflictError, NotFoundError, OriginError, UserError
from kade.feed import CursorError
from kade.logs import get_logger, redact_text

log = get_logger(__name__)
MEDIA_TYPE = "application/problem+json"
BASE = "urn:kade:problem:"

#: slug → (HTTP status, title). The slugs are the API's contract: never rename one.
PROBLEMS: dict[str, tuple[int, str]] = {
    "unauthorized": (401, "Missing, unknown or revoked API key"),
    "forbidden": (403, "This key may not do that"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "invalid-cursor": (400, "Cursor not recognised"),
    "validation": (422, "The request is not valid"),
    "invalid-value": (422, "A value cannot be stored"),
    "rejected": (422, "Refused by a Kade rule"),
    "origin": (409, "Not the order's origin store"),
    "conflict": (409, "Conflicts with an earlier request"),
    "internal": (500, "Internal error"),
}


class FieldError(BaseModel):
    field: str = Field(description="where the error is, e.g. items[3].quantity")
    location: str = Field(description="body, query, path or header")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(description="stable URI of the kind of problem, e.g. urn:kade:problem:validation")
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    errors: list[FieldError] | None = Field(default=None, description="validation problems, one per field")


class ProblemError(Exception):
    def __init__(self, slug: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 errors: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.slug = slug
        self.detail = detail
        self.headers = headers
        self.errors = errors


def problem_response(request: Request, slug: str, detail: str = "", *, errors: list[dict[str, str]] | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    status, title = PROBLEMS[slug]
    body: dict[str, Any] = {"type": BASE + slug, "title": title, "status": status, "detail": redact_text(detail),
                            "instance": request.url.path}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def responses(*slugs: str) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each problem it can answer, documented."""
    out: dict[int | str, dict[str, Any]] = {}
    for slug in ("unauthorized", "forbidden", "validation", *slugs):
        status, title = PROBLEMS[slug]
        entry = out.setdefault(status, {"model": Problem, "content": {MEDIA_TYPE: {"schema": {"$ref":
                               "#/components/schemas/Problem"}}}, "description": ""})
        entry["description"] = "; ".join(filter(None, [entry["description"], f"{BASE}{slug}: {title}"]))
    return out


def _field(loc: tuple[Any, ...]) -> tuple[str, str]:
    where = str(loc[0]) if loc else "body"
    path = ""
    for part in loc[1:]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or where, where


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(request, exc.slug, exc.detail, headers=exc.headers, errors=exc.errors)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            field, where = _field(tuple(err.get("loc", ())))
            errors.append({"field": field, "location": where, "message": str(err.get("msg", "invalid"))})
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(request, "validation", detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "validation" if 400 <= exc.status_code < 500 else "internal")
        return problem_response(request, slug, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(UserError)
    async def _user(request: Request, exc: UserError) -> JSONResponse:
        slug = ("not-found" if isinstance(exc, NotFoundError) else "conflict" if isinstance(exc, ConflictError)
                else "invalid-cursor" if isinstance(exc, CursorError) else "rejected")
        return problem_response(request, slug, str(exc))

    @app.exception_handler(OriginError)
    async def _origin(request: Request, exc: OriginError) -> JSONResponse:
        return problem_response(request, "origin", str(exc))

    @app.exception_handler(sa.exc.DataError)
    async def _data(request: Request, exc: sa.exc.DataError) -> JSONResponse:
        # a value the database cannot hold (out of range, bad text); validation should have caught it
        log.warning("api_data_error", path=request.url.path, error=str(exc.orig))
        return problem_response(request, "invalid-value", "a value in the request cannot be stored")

    @app.exception_handler(UnicodeEncodeError)
    async def _text(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return problem_response(request, "invalid-value", "text in the request is not valid Unicode")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("api_internal_error", path=request.url.path, error=f"{type(exc).__name__}: {exc}")
        return problem_response(request, "internal", "an internal error occurred; it has been logged")
