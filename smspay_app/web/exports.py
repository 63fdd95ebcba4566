"""CSV downloads for the admin UI, authenticated by the admin session cookie
(the same ``smspay_session`` the Reflex pages use) and the caller's role.

``GET /admin/exports/campaigns/{id}.csv?encoding=utf-8-sig|cp932&lang=ja|en``
streams the campaign's recipients (see ``services.exports``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from smspay_app.db import get_engine, session_scope
from smspay_app.i18n import normalise_language, t
from smspay_app.services import auth, exports
from smspay_app.web.session_cookie import SESSION_COOKIE  # noqa: E402


def _stream(campaign_id: int, timezone: str, lang: str, encoding: str) -> Iterator[bytes]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield from exports.encode_csv(exports.iter_rows(session, campaign_id, timezone, lang), encoding)


async def campaign_recipients_csv(request: Request) -> Response:
    lang = normalise_language(request.query_params.get("lang") or request.cookies.get("smspay_lang"))
    encoding = request.query_params.get("encoding") or "utf-8-sig"
    try:
        campaign_id = int(request.path_params["campaign_id"])
    except ValueError:
        return PlainTextResponse(t("ops.error.not_found", lang), status_code=404)
    with session_scope() as session:
        caller = auth.caller_for_token(session, request.cookies.get(SESSION_COOKIE))
        if caller is None:
            return PlainTextResponse(t("login.expired", lang), status_code=401)
        try:
            campaign, organisation = exports.prepare(session, caller, campaign_id, encoding)
        except auth.NotAllowed:
            return PlainTextResponse(t("admin.error.not_allowed", lang), status_code=403)
        except exports.ExportError as exc:
            return PlainTextResponse(t(exc.key, lang), status_code=404 if exc.key == "ops.error.not_found" else 400)
        name = exports.filename(campaign)
        timezone = organisation.timezone
    charset = "utf-8" if encoding == "utf-8-sig" else "shift_jis"
    return StreamingResponse(
        _stream(campaign_id, timezone, lang, encoding),
        media_type=f"text/csv; charset={charset}",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


routes = [
    Route("/admin/exports/campaigns/{campaign_id}.csv", campaign_recipients_csv, methods=["GET"]),
]
