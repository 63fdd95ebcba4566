"""The recipient's qualified invoice / receipt (services.invoices): a
printable page at ``/l/{token}/invoice`` and its PDF at
``/l/{token}/invoice.pdf``. Private like the invoice page itself: only with
the verified session of that link (the identity check); otherwise the
recipient pages' own flow answers (the question first)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from smspay_app.db import session_scope
from smspay_app.services import invoices, journey


def _document(request: Request, token: str):
    from smspay_app.web.recipient import pick_language, verified_session

    lang = pick_language(request)
    with session_scope() as session:
        ctx = journey.load_context(session, token)
        if ctx is None:
            return None, lang
        lang = pick_language(request, ctx=ctx)
        if not verified_session(request, ctx, token):
            return False, lang
        return invoices.build(session, ctx.recipient), lang


def _page(request: Request, token: str, pdf: bool) -> Response:
    doc, lang = _document(request, token)
    if doc is None:
        return HTMLResponse("Not found", status_code=404)
    if doc is False:
        return RedirectResponse(f"/l/{journey.split_link_token(token)[0]}", status_code=303)
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    if pdf:
        name = ("receipt" if doc.receipt else "invoice") + f"-{doc.number}.pdf"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return Response(invoices.render_pdf(doc, lang), media_type="application/pdf", headers=headers)
    return HTMLResponse(invoices.render_html(doc, lang, pdf_href=f"/l/{token}/invoice.pdf"), headers=headers)


async def invoice_page(request: Request) -> Response:
    return await run_in_threadpool(_page, request, request.path_params["token"], False)


async def invoice_pdf(request: Request) -> Response:
    return await run_in_threadpool(_page, request, request.path_params["token"], True)


routes = [
    Route("/l/{token}/invoice", invoice_page, methods=["GET", "HEAD"]),
    Route("/l/{token}/invoice.pdf", invoice_pdf, methods=["GET", "HEAD"]),
]
