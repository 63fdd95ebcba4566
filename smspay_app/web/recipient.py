"""The recipient pages behind the short link: plain HTML forms, no JavaScript.

Routes (all under ``/l/{token}``; the token is the only thing in the URL):

- ``GET|HEAD /l/{token}``: the identity check, or the message when a verified
  session cookie is present. Recorded as ``visit``/``preview``; never a click.
- ``POST /l/{token}`` and ``POST /l/{token}/verify``: answers / code / continue.
  The first POST on a link is the person's click (see ``services.journey``).
- ``POST /l/{token}/otp``: send a one-time code by SMS.
- ``POST /l/{token}/pay``: create the checkout session, 303 to the gateway.
- ``GET /l/{token}/done``: back from the gateway: paid / processing / failed /
  still waiting (meta refresh every 3 s).
- ``GET /l/{token}/cancelled``: back from the gateway without paying.
- ``POST /l/{token}/read``: "I have read this" on a notice.

Language: ``lang`` form field, ``?lang=`` (remembered in a cookie), the
``lang`` cookie, then Accept-Language; Japanese by default. Every page sends
no-referrer, no-store, DENY framing and a strict CSP (``web.html``). A simple
per-address limit (``POST_LIMIT`` per minute, shared by every process) slows
guessing. The session cookie is HttpOnly, SameSite=Lax, Path=/l/, Secure on
https, 30 minutes.
"""

from __future__ import annotations

import logging
import re
import threading
from html import escape
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smspay_app.db import get_engine, session_scope
from smspay_app.domain import user_agents
from smspay_app.domain.formatting import people_date, people_datetime, yen
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.i18n import language_from_accept, normalise_language, t
from smspay_app.providers.payments.base import GatewayError, get_payment_gateway
from smspay_app.services import actions, api_keys, journey, payments
from smspay_app.services.journey import LinkContext
from smspay_app.settings import get_settings
from smspay_app.web.html import html_response, page
from smspay_app.web.vouchers import voucher_card

SESSION_COOKIE = "smspay_s"
LANG_COOKIE = "smspay_lang"
COOKIE_PATH = "/l/"
POST_LIMIT = 30  # POSTs per address per minute
POST_WINDOW_SECONDS = 60.0


# ---------------------------------------------------------------- rate limit

# POSTs per client address (the address the trusted proxies report), shared
# by every process (``domain.limits``).
post_limiter: SlidingWindowLimiter[str] = SlidingWindowLimiter(POST_LIMIT, POST_WINDOW_SECONDS, shared="recipient_post")


# ---------------------------------------------------------------- logs


class _RedactTokens(logging.Filter):
    """Access logs never carry link tokens."""

    pattern = re.compile(r"/l/[0-9A-Za-z]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self.pattern.sub("/l/<token>", a) if isinstance(a, str) else a for a in record.args)
        return True


logging.getLogger("uvicorn.access").addFilter(_RedactTokens())


# ---------------------------------------------------------------- helpers


def pick_language(request: Request, form: Any = None, ctx: LinkContext | None = None) -> str:
    """The recipient's own choice (the form's, ``?lang=``, the cookie) first;
    then, once the link is known, the campaign's recipient language (the
    language its SMS was written in); Accept-Language only without a link."""
    if form is None:
        form = getattr(request.state, "form", None)  # a POST's form (_post_prelude)
    for value in (
        form.get("lang") if form is not None else None,
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
    ):
        if value and str(value)[:2].lower() in ("ja", "en"):
            return normalise_language(str(value))
    if ctx is not None and ctx.campaign.recipient_language:
        return normalise_language(str(ctx.campaign.recipient_language))
    return language_from_accept(request.headers.get("accept-language"))


def _base(token: str) -> str:
    return f"/l/{token}"


def _footer(lang: str, ctx: LinkContext | None, token: str | None) -> str:
    parts = []
    if ctx is not None:
        org = ctx.organisation
        if org.support_phone:
            phone = escape(org.support_phone)
            tel = escape(re.sub(r"[^0-9+]", "", org.support_phone))
            contact = t("recipient.contact", lang, org=escape(org.name), phone=f'<a href="tel:{tel}">{phone}</a>')
        else:
            contact = t("recipient.contact_nophone", lang, org=escape(org.name))
        parts.append(f"<p>{contact}</p>")
    if token:
        other = "en" if lang == "ja" else "ja"
        parts.append(
            f'<p><a href="{_base(token)}?lang={other}" lang="{other}">{t("recipient.lang_switch", lang)}</a></p>'
        )
        parts.append(f'<p><a href="{_base(token)}/optout">{t("recipient.optout_link", lang)}</a></p>')
    return "".join(parts)


def _respond(
    request: Request,
    lang: str,
    *,
    title: str,
    body: str,
    ctx: LinkContext | None,
    token: str | None,
    status: int = 200,
    refresh: int | None = None,
    form_targets: tuple[str, ...] = (),
) -> Response:
    html = page(
        title=title,
        body=body,
        lang=lang,
        org_name=ctx.organisation.name if ctx else "",
        footer=_footer(lang, ctx, token),
        refresh_seconds=refresh,
    )
    response = html_response(html, status, form_targets=form_targets)
    _remember_language(request, response)
    return response


def _remember_language(request: Request, response: Response) -> None:
    chosen = request.query_params.get("lang")
    if chosen and chosen[:2].lower() in ("ja", "en"):
        response.set_cookie(
            LANG_COOKIE,
            normalise_language(chosen),
            max_age=365 * 86400,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=_secure(),
        )


def _secure() -> bool:
    return get_settings().public_base_url.startswith("https://")


def _card(inner: str) -> str:
    return f'<div class="card">{inner}</div>'


def _notice(kind: str, text: str) -> str:
    return f'<p class="{kind}" role="{"alert" if kind == "err" else "status"}">{text}</p>'


def _form(action: str, lang: str, inner: str, button: str, *, alt: bool = False) -> str:
    cls = "btn alt" if alt else "btn"
    return (
        f'<form method="post" action="{escape(action)}">{inner}'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<button class="{cls}" type="submit">{escape(button)}</button></form>'
    )


def unknown_page(request: Request, lang: str) -> Response:
    body = _card(f"<h1>{t('recipient.unknown_title', lang)}</h1><p>{t('recipient.unknown_body', lang)}</p>")
    return _respond(
        request, lang, title=t("recipient.unknown_title", lang), body=body, ctx=None, token=None, status=404
    )


def problem_page(request: Request, lang: str, ctx: LinkContext, token: str, state: str) -> Response:
    status = {"expired": 410, "revoked": 410, "locked": 403, "suspended": 503}[state]
    title = t(f"recipient.{state}_title", lang)
    body = _card(f"<h1>{title}</h1><p>{t(f'recipient.{state}_body', lang)}</p>")
    return _respond(request, lang, title=title, body=body, ctx=ctx, token=token, status=status)


def rate_limited_page(request: Request, lang: str) -> Response:
    body = _card(_notice("err", t("recipient.rate_limited", lang)))
    response = _respond(
        request, lang, title=t("recipient.rate_limited", lang), body=body, ctx=None, token=None, status=429
    )
    response.headers["Retry-After"] = str(int(POST_WINDOW_SECONDS))
    return response


def identity_page(
    request: Request, lang: str, ctx: LinkContext, token: str, *, notice: str = "", status: int = 200
) -> Response:
    """The identity check: questions, a one-time code, or a plain continue.
    Without a notice the page depends only on the campaign, organisation and
    language (and the token), so it is rendered once and cached."""
    if notice or status != 200:
        return _identity_page(request, lang, ctx, token, notice=notice, status=status)
    key = (
        lang,
        ctx.campaign.id,
        ctx.campaign.verification_mode,
        bool(ctx.link.otp_hash),
        ctx.organisation.name,
        ctx.organisation.support_phone,
        tuple((q.id, q.label, q.kind) for q in ctx.questions),
    )
    with _page_cache_lock:
        cached = _page_cache.get(key)
    if cached is None:
        cached = _identity_page(request, lang, ctx, _TOKEN_MARK).body.decode()
        with _page_cache_lock:
            _page_cache[key] = cached
            if len(_page_cache) > 2048:
                _page_cache.pop(next(iter(_page_cache)))
    response = html_response(cached.replace(_TOKEN_MARK, token))
    _remember_language(request, response)
    return response


_TOKEN_MARK = "\x00\x01token\x01\x00"  # control characters never appear in page text
_page_cache: dict[tuple, str] = {}
_page_cache_lock = threading.Lock()


def _identity_page(
    request: Request, lang: str, ctx: LinkContext, token: str, *, notice: str = "", status: int = 200
) -> Response:
    title = t("recipient.verify_title", lang)
    parts = [f"<h1>{title}</h1>", notice]
    base = _base(token)
    if ctx.campaign.verification_mode == "otp":
        parts.append(f"<p>{t('recipient.otp_intro', lang)}</p>")
        if ctx.link.otp_hash:
            field = (
                f'<label for="code">{t("recipient.otp_code_label", lang)}</label>'
                '<input type="tel" id="code" name="code" inputmode="numeric" pattern="[0-9０-９]*" '
                'maxlength="12" autocomplete="one-time-code" required>'
            )
            parts.append(_form(f"{base}/verify", lang, field, t("recipient.verify_button", lang)))
            parts.append(_form(f"{base}/otp", lang, "", t("recipient.otp_resend_button", lang), alt=True))
        else:
            parts.append(_form(f"{base}/otp", lang, "", t("recipient.otp_send_button", lang)))
    elif ctx.questions:
        parts.append(f"<p>{t('recipient.verify_intro', lang)}</p>")
        fields = []
        for q in ctx.questions:
            kind = q.kind
            input_type = "password" if kind == "secret" else ("tel" if kind == "digits" else "text")
            hint = ""
            if kind == "date":
                hint = f'<span class="hint">{t("recipient.hint_date", lang)}</span>'
            elif kind == "digits":
                hint = f'<span class="hint">{t("recipient.hint_digits", lang)}</span>'
            fields.append(
                f'<label for="q{q.id}">{escape(q.label)}</label>{hint}'
                f'<input type="{input_type}" id="q{q.id}" name="q_{q.id}" maxlength="100" '
                'autocomplete="off" required>'
            )
        parts.append(_form(f"{base}/verify", lang, "".join(fields), t("recipient.verify_button", lang)))
    else:
        parts.append(f"<p>{t('recipient.continue_intro', lang)}</p>")
        parts.append(_form(f"{base}/verify", lang, "", t("recipient.continue_button", lang)))
    return _respond(request, lang, title=title, body=_card("".join(parts)), ctx=ctx, token=token, status=status)


def _due_text(ctx: LinkContext, lang: str) -> str:
    due = ctx.recipient.due_date or ctx.campaign.due_date
    return people_date(due, lang) if due else ""


def _invoice_links(base: str, lang: str, *, paid: bool) -> str:
    """Links to the printable invoice (the receipt once paid) and its PDF
    (web/invoice.py); only on pages behind the identity check."""
    kind = "receipt" if paid else "invoice"
    return (
        f'<p class=hint id="invoice-links"><a href="{base}/invoice">{t(f"recipient.show_{kind}", lang)}</a>'
        f' ・ <a href="{base}/invoice.pdf">{t("invoice.pdf", lang)}</a></p>'
    )


def message_page(
    request: Request, lang: str, ctx: LinkContext, token: str, session: Session, *, notice: str = ""
) -> Response:
    """The message / invoice behind the identity check (verified session only)."""
    from smspay_app.domain.sms_text import render_text

    campaign, recipient = ctx.campaign, ctx.recipient
    state, payment = journey.payment_state(session, ctx)
    base = _base(token)
    top = [notice]
    if state == "paid":
        when = payment.paid_at if payment and payment.paid_at else recipient.paid_at
        amount = payment.amount_yen if payment else recipient.amount_yen
        top.append(
            _card(
                f"<h1>{t('recipient.paid_title', lang)}</h1>"
                + _notice(
                    "ok",
                    t(
                        "recipient.receipt",
                        lang,
                        amount=yen(amount),
                        date=people_datetime(when, lang, ctx.organisation.timezone),
                    ),
                )
            )
        )
    elif state == "processing":
        # konbini / bank transfer: what to pay where and by when (web/vouchers.py)
        shown = voucher_card(payment, ctx.organisation.timezone, lang)
        if shown:
            shown += _form(f"{base}/voucher-sms", lang, "", t("recipient.voucher_sms_button", lang), alt=True)
        else:
            shown = f"<p>{t('recipient.processing_body', lang)}</p>"
        top.append(_card(f"<h1>{t('recipient.processing_title', lang)}</h1>{shown}"))
    elif state == "failed" and payment is not None and payment.status == "expired" and payment.voucher_json:
        top.append(_card(_notice("err", t("recipient.voucher_expired", lang))))
    for refunded in payments.refunds_for(session, recipient.id):
        key = "recipient.duplicate_refunded" if refunded.status == "refunded" else "recipient.refunded"
        top.append(_card(_notice("ok", t(key, lang, amount=yen(refunded.refunded_yen)))))

    try:
        message = render_text(campaign.page_message or "", journey.merge_fields(recipient, lang))
    except Exception:  # a broken template must not break the page
        message = campaign.page_message or ""
    main = [f"<h1>{escape(campaign.page_title or campaign.name)}</h1>"]
    if message:
        main.append(f'<div class="msg">{escape(message)}</div>')
    form_targets: tuple[str, ...] = ()
    if campaign.payment_enabled and recipient.amount_yen > 0:
        # lines that add up to the amount charged: the recipient's own, or the campaign's
        lines = payments.invoice_lines_for(session, recipient)
        if lines:
            rows = "".join(
                f"<tr><td>{escape(item)}</td><td class=n>{qty}</td>"
                f"<td class=n>{yen(unit)}</td><td class=n>{yen(qty * unit)}</td></tr>"
                for item, qty, unit in lines
            )
            main.append(
                f"<h2 style='font-size:1rem'>{t('recipient.invoice', lang)}</h2><table><tr>"
                f"<th>{t('recipient.col_item', lang)}</th><th class=n>{t('recipient.col_qty', lang)}</th>"
                f"<th class=n>{t('recipient.col_unit', lang)}</th><th class=n>{t('recipient.col_total', lang)}</th></tr>{rows}</table>"
            )
        main.append(f"<p>{t('recipient.total', lang)}</p><p class=total>{yen(recipient.amount_yen)}</p>")
        if recipient.partial_paid_yen and state not in ("paid",):
            # recorded by staff (actions.record_partial_payment): the checkout charges only the rest
            rest = actions.outstanding_yen(recipient, campaign)
            main.append(
                f"<p id=partial>{t('recipient.partial_paid', lang, paid=yen(recipient.partial_paid_yen), rest=yen(rest))}</p>"
            )
        due = _due_text(ctx, lang)
        if due:
            main.append(f"<p>{t('recipient.due', lang, date=due)}</p>")
        main.append(_invoice_links(base, lang, paid=state == "paid"))
        if state not in ("paid", "processing"):
            main.append(f"<p class=hint>{t('recipient.pay_note', lang)}</p>")
            main.append(_form(f"{base}/pay", lang, "", t("recipient.pay_button", lang)))
            form_targets = (get_settings().payment_api_base,)
    elif not campaign.payment_enabled:
        if campaign.ask_read_confirmation and recipient.read_at is None:
            main.append(_form(f"{base}/read", lang, "", t("recipient.read_button", lang)))
        elif recipient.read_at is not None:
            main.append(_notice("ok", t("recipient.read_done", lang)))
        else:
            main.append(f"<p class=hint>{t('recipient.notice_end', lang)}</p>")
    elif state != "paid":
        main.append(f"<p class=hint>{t('recipient.nothing_to_pay', lang)}</p>")
    body = "".join(top) + _card("".join(main))
    return _respond(
        request,
        lang,
        title=campaign.page_title or campaign.name,
        body=body,
        ctx=ctx,
        token=token,
        form_targets=form_targets,
    )


def _with_session_cookie(response: Response, value: str) -> Response:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=journey.SESSION_MINUTES * 60,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(),
    )
    return response


def _client_key(request: Request) -> str:
    return api_keys.client_address_of(request) or "unknown"


# ---------------------------------------------------------------- endpoints


def _landing_get(request: Request, token: str, method: str) -> Response:
    """The hot path, run on the event loop: one indexed Core read (SQLite reads
    do not wait for writers in WAL mode). The visit is written after the
    response (background task, thread pool); a verified session goes to the
    ORM path in the thread pool."""
    lang = pick_language(request)
    ua_class = user_agents.classify(request.headers.get("user-agent"))
    with get_engine().connect() as connection:
        ctx = journey.load_view(connection, token)
    if ctx is None:
        return unknown_page(request, lang)
    lang = pick_language(request, ctx=ctx)
    state = journey.link_state(ctx)
    if state != "ok":
        response = problem_page(request, lang, ctx, token, state)
    elif journey.session_valid(ctx, request.cookies.get(SESSION_COOKIE)):
        return None  # verified: the caller renders the message in the thread pool
    else:
        response = identity_page(request, lang, ctx, token)
    if not journey.visit_limiter.local or journey.visit_needs_recording(
        ctx, ua_class=ua_class, method=method, state=state
    ):
        response.visit = (ctx, ua_class, method, state)  # written by the caller, off the loop
    return response


def _record_visit(ctx: LinkContext, ua_class: str, method: str, state: str) -> None:
    with get_engine().connect() as connection:
        # A shared de-duplication (issue 17) is checked here, off the loop.
        dedup = not journey.visit_limiter.local
        journey.record_visit(connection, ctx, ua_class=ua_class, method=method, state=state, dedup=dedup)
        connection.commit()


def _message_get(request: Request, token: str, method: str) -> Response:
    lang = pick_language(request)
    ua_class = user_agents.classify(request.headers.get("user-agent"))
    with session_scope() as session:
        ctx = journey.load_context(session, token)
        if ctx is None:
            return unknown_page(request, lang)
        lang = pick_language(request, ctx=ctx)
        state = journey.link_state(ctx)
        journey.record_visit(session, ctx, ua_class=ua_class, method=method, state=state)
        if state != "ok":
            return problem_page(request, lang, ctx, token, state)
        if not journey.session_valid(ctx, request.cookies.get(SESSION_COOKIE)):
            return identity_page(request, lang, ctx, token)
        return message_page(request, lang, ctx, token, session)


async def landing(request: Request) -> Response:
    token = request.path_params["token"]
    if request.method == "POST":
        return await verify(request)
    response = _landing_get(request, token, request.method)
    if response is None:
        return await run_in_threadpool(_message_get, request, token, request.method)
    visit = getattr(response, "visit", None)
    if visit is not None:
        await run_in_threadpool(_record_visit, *visit)
    return response


def cross_site(request: Request) -> bool:
    """A POST sent by a page of another site (issue 18, item 11: a page
    elsewhere submitted a wrong answer, so any page that knows a token could
    lock it). Browsers say so in ``Sec-Fetch-Site``, or name the page's
    origin in ``Origin``; our own pages send ``Referrer-Policy: no-referrer``,
    under which their forms carry ``Origin: null``. Feature phones send
    neither header: allowed."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return True
    origin = request.headers.get("origin", "").strip().lower()
    if not origin or origin == "null":
        return False
    own = urlsplit(get_settings().public_base_url)
    return origin.rstrip("/") != f"{own.scheme}://{own.netloc}".lower()


def cross_site_page(request: Request, lang: str) -> Response:
    body = _card(_notice("err", t("recipient.cross_site", lang)))
    return _respond(request, lang, title=t("recipient.cross_site", lang), body=body, ctx=None, token=None, status=403)


async def _post_prelude(request: Request):
    """Common to every POST: read the form, language, rate limit; a POST from
    another site is refused before anything is counted."""
    form = await request.form()
    request.state.form = form
    lang = pick_language(request, form)
    if cross_site(request):
        return form, lang, cross_site_page(request, lang)
    key = _client_key(request)
    allowed = post_limiter.allow(key) if post_limiter.local else await run_in_threadpool(post_limiter.allow, key)
    if not allowed:
        return form, lang, rate_limited_page(request, lang)
    return form, lang, None


def _open_for_post(request: Request, session: Session, token: str, lang: str, via: str):
    """Load the link for a POST: friendly page if unusable; records the click."""
    ctx = journey.load_context(session, token)
    if ctx is None:
        return None, unknown_page(request, lang)
    state = journey.link_state(ctx)
    if state not in ("revoked", "suspended"):
        journey.record_click(session, ctx, via=via, ua_class=user_agents.classify(request.headers.get("user-agent")))
    if state != "ok":
        return ctx, problem_page(request, lang, ctx, token, state)
    return ctx, None


async def verify(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_verify, request, request.path_params["token"], form, lang)


def _verify(request: Request, token: str, form: Any, lang: str) -> Response:
    with session_scope() as session:
        ctx, problem = _open_for_post(request, session, token, lang, "verify")
        if problem:
            return problem
        if ctx.campaign.verification_mode == "otp":
            result = journey.verify_otp(session, ctx, str(form.get("code", "")))
        else:
            answers = {}
            for q in ctx.questions:
                value = form.get(f"q_{q.id}")
                answers[q.id] = str(value) if value is not None else ""
            result = journey.verify_answers(session, ctx, answers)
        if result.ok:
            session.commit()
            response = RedirectResponse(_base(token), status_code=303)
            response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
            return _with_session_cookie(response, result.session_token)
        if result.reason in ("locked", "revoked", "expired"):  # as found under the link's lock
            session.commit()
            return problem_page(request, lang, ctx, token, result.reason)
        messages = {
            "wrong": ("recipient.otp_wrong" if ctx.campaign.verification_mode == "otp" else "recipient.wrong_answer"),
            "expired_code": "recipient.otp_expired",
            "no_code": "recipient.otp_no_code",
            "too_many_tries": "recipient.otp_too_many",
        }
        text = t(messages[result.reason], lang, **({"left": result.remaining} if result.reason == "wrong" else {}))
        return identity_page(request, lang, ctx, token, notice=_notice("err", text))


async def otp(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_otp, request, request.path_params["token"], lang)


def _otp(request: Request, token: str, lang: str) -> Response:
    with session_scope() as session:
        ctx, problem = _open_for_post(request, session, token, lang, "otp")
        if problem:
            return problem
        if ctx.campaign.verification_mode != "otp":
            return identity_page(request, lang, ctx, token)
        result = journey.request_otp(session, ctx, lang=lang)
        session.commit()
        if result.reason == "locked":
            return problem_page(request, lang, ctx, token, "locked")
        if result.sent:
            notice = _notice("ok", t("recipient.otp_sent", lang, minutes=journey.OTP_VALID_SECONDS // 60))
        elif result.reason == "cooldown":
            notice = _notice("err", t("recipient.otp_cooldown", lang, seconds=result.wait_seconds))
        elif result.reason == "cap":
            notice = _notice("err", t("recipient.otp_cap", lang))
        else:
            notice = _notice("err", t("recipient.otp_failed", lang))
        return identity_page(request, lang, ctx, token, notice=notice)


def _verified(request: Request, session: Session, token: str, lang: str, *, via: str | None):
    """Load the link and require the verified session; else the right page."""
    if via:
        ctx, problem = _open_for_post(request, session, token, lang, via)
    else:
        ctx = journey.load_context(session, token)
        problem = None
        if ctx is None:
            problem = unknown_page(request, lang)
        else:
            lang = pick_language(request, ctx=ctx)
            state = journey.link_state(ctx)
            if state != "ok":
                problem = problem_page(request, lang, ctx, token, state)
    if problem:
        return None, problem
    if not journey.session_valid(ctx, request.cookies.get(SESSION_COOKIE)):
        notice = _notice("err", t("recipient.session_expired", lang))
        return None, identity_page(request, lang, ctx, token, notice=notice)
    return ctx, None


async def pay(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_pay, request, request.path_params["token"], lang)


def _pay(request: Request, token: str, lang: str) -> Response:
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via="pay")
        if problem:
            return problem
        lang = pick_language(request, ctx=ctx)  # the checkout's language
        gateway = get_payment_gateway(get_settings())
        try:
            payment = payments.open_checkout(session, ctx, gateway)
            if not payment.checkout_url:  # else: the live checkout, handed out again
                session.commit()  # the Payment row exists before the gateway is called
                payment = payments.start_checkout(session, ctx, token, gateway, payment, lang)
                session.commit()
                payment = payments.close_other_checkouts(session, gateway, payment)
        except payments.PaymentNotAllowed:
            return RedirectResponse(_base(token), status_code=303)
        except GatewayError:
            session.commit()
            notice = _notice("err", t("recipient.gateway_error", lang))
            return message_page(request, lang, ctx, token, session, notice=notice)
        response = RedirectResponse(payment.checkout_url, status_code=303)
        response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
        return response


def _done(request: Request, token: str) -> Response:
    lang = pick_language(request)
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via=None)
        if problem:
            return problem
        lang = pick_language(request, ctx=ctx)
        state, _ = journey.payment_state(session, ctx)
        if state in ("paid", "processing", "none"):
            return message_page(request, lang, ctx, token, session)
        base = _base(token)
        if state == "failed":
            title = t("recipient.failed_title", lang)
            body = _card(
                f"<h1>{title}</h1>{_notice('err', t('recipient.failed_body', lang))}"
                + _form(f"{base}/pay", lang, "", t("recipient.pay_button", lang))
                + f'<a class="btn alt" href="{base}">{t("recipient.back", lang)}</a>'
                + _invoice_links(base, lang, paid=False)
            )
            return _respond(
                request,
                lang,
                title=title,
                body=body,
                ctx=ctx,
                token=token,
                form_targets=(get_settings().payment_api_base,),
            )
        title = t("recipient.waiting_title", lang)
        body = _card(
            f"<h1>{title}</h1><p>{t('recipient.waiting_body', lang)}</p>"
            f'<a class="btn alt" href="{base}/done">{t("recipient.reload", lang)}</a>'
        )
        return _respond(request, lang, title=title, body=body, ctx=ctx, token=token, refresh=3)


async def done(request: Request) -> Response:
    return await run_in_threadpool(_done, request, request.path_params["token"])


def _cancelled(request: Request, token: str) -> Response:
    lang = pick_language(request)
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via=None)
        if problem:
            return problem
        lang = pick_language(request, ctx=ctx)
        state, _ = journey.payment_state(session, ctx)
        if state in ("paid", "processing"):
            return message_page(request, lang, ctx, token, session)
        base = _base(token)
        title = t("recipient.cancelled_title", lang)
        body = _card(
            f"<h1>{title}</h1><p>{t('recipient.cancelled_body', lang)}</p>"
            + _form(f"{base}/pay", lang, "", t("recipient.pay_button", lang))
            + f'<a class="btn alt" href="{base}">{t("recipient.back", lang)}</a>'
        )
        return _respond(
            request, lang, title=title, body=body, ctx=ctx, token=token, form_targets=(get_settings().payment_api_base,)
        )


async def cancelled(request: Request) -> Response:
    return await run_in_threadpool(_cancelled, request, request.path_params["token"])


async def voucher_sms(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_voucher_sms, request, request.path_params["token"], lang)


def _voucher_sms(request: Request, token: str, lang: str) -> Response:
    """The voucher by SMS, on the recipient's request (verified session)."""
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via=None)
        if problem:
            return problem
        state, payment = journey.payment_state(session, ctx)
        result = payments.send_voucher_sms(session, ctx, payment, lang) if state == "processing" and payment else "none"
        session.commit()
        if result == "none":
            return RedirectResponse(_base(token), status_code=303)
        notice = _notice("ok" if result == "sent" else "err", t(f"recipient.voucher_sms_{result}", lang))
        return message_page(request, lang, ctx, token, session, notice=notice)


async def read(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_read, request, request.path_params["token"], lang)


def _read(request: Request, token: str, lang: str) -> Response:
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via="read")
        if problem:
            return problem
        if not ctx.campaign.payment_enabled:
            journey.mark_read(session, ctx)
            session.commit()
        return message_page(request, lang, ctx, token, session)


# ---------------------------------------------------------------- opt-out link


def _optout_page(request: Request, token: str, lang: str, *, confirm: bool) -> Response:
    """The opt-out link of every page (plain HTML, no JavaScript): GET asks to
    confirm, POST does it. Any link of the recipient works, even an expired or
    withdrawn one: stopping messages must always be possible."""
    from smspay_app.services import optouts

    with session_scope() as session:
        ctx = journey.load_context(session, token)
        if ctx is None or ctx.recipient.erased_at is not None:
            return unknown_page(request, lang)
        lang = pick_language(request, ctx=ctx)
        title = t("recipient.optout_title", lang)
        if confirm:
            optouts.opt_out_by_link(session, ctx.organisation.id, ctx.recipient.id, ctx.recipient.phone_e164)
            session.commit()
            body = _card(
                f"<h1>{title}</h1>" + _notice("ok", t("recipient.optout_done", lang, org=escape(ctx.organisation.name)))
            )
        else:
            body = _card(
                f"<h1>{title}</h1><p>{t('recipient.optout_confirm', lang, org=escape(ctx.organisation.name))}</p>"
                + _form(f"{_base(token)}/optout", lang, "", t("recipient.optout_button", lang))
                + f'<a class="btn alt" href="{_base(token)}">{t("recipient.back", lang)}</a>'
            )
        return _respond(request, lang, title=title, body=body, ctx=ctx, token=None)


async def optout(request: Request) -> Response:
    token = request.path_params["token"]
    if request.method == "POST":
        form, lang, limited = await _post_prelude(request)
        if limited:
            return limited
        return await run_in_threadpool(_optout_page, request, token, lang, confirm=True)
    return await run_in_threadpool(_optout_page, request, token, pick_language(request), confirm=False)


routes = [
    Route("/l/{token}", landing, methods=["GET", "HEAD", "POST"]),
    Route("/l/{token}/verify", verify, methods=["POST"]),
    Route("/l/{token}/otp", otp, methods=["POST"]),
    Route("/l/{token}/pay", pay, methods=["POST"]),
    Route("/l/{token}/done", done, methods=["GET", "HEAD"]),
    Route("/l/{token}/cancelled", cancelled, methods=["GET", "HEAD"]),
    Route("/l/{token}/read", read, methods=["POST"]),
    Route("/l/{token}/optout", optout, methods=["GET", "HEAD", "POST"]),
    Route("/l/{token}/voucher-sms", voucher_sms, methods=["POST"]),
]
