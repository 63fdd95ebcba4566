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
- ``GET|POST /l/{token}/voucher``: the voucher route (issue 14): konbini or
  bank transfer created server-side through the gateway's API, its numbers
  on our own page; the only route for feature phones (no hosted page).

After the identity check the verified session is the ``smspay_s`` cookie,
or, when the browser did not return the identity page's probe cookie (the
i-mode browser keeps none), ``/l/{token}.{url_session}`` in every link and
form (``journey.url_session_value``). Every POST answers 303 (post/redirect/
get): its outcome comes back as ``?e=<code>``. Pages for i-mode / EZweb /
Yahoo!ケータイ browsers are Shift_JIS and their forms are decoded in the
charset they were sent in (``read_form``).

Language: ``lang`` form field, ``?lang=`` (remembered in a cookie), the
``lang`` cookie, then Accept-Language; Japanese by default. Every page sends
no-referrer, no-store, DENY framing and a strict CSP (``web.html``). A simple
per-address limit (``POST_LIMIT`` per minute, shared by every process) slows
guessing. The session cookie is HttpOnly, SameSite=Lax, Path=/l/, Secure on
https, 30 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import weakref
from functools import lru_cache
from html import escape
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from smspay_app.db import get_engine, read_connection, session_scope
from smspay_app.domain import user_agents
from smspay_app.domain.formatting import people_date, people_datetime, yen
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.domain.page_text import split_message
from smspay_app.i18n import language_from_accept, normalise_language, t
from smspay_app.providers.payments.base import GatewayError, PaymentGateway
from smspay_app.services import actions, api_keys, connections, invoices, journey, payments
from smspay_app.services.journey import LinkContext
from smspay_app.settings import get_settings
from smspay_app.web.html import CHARSET, CODECS, encode_page, html_response, page
from smspay_app.web.vouchers import voucher_card

SESSION_COOKIE = "smspay_s"
# Set with the identity page: when it comes back with the answers, the browser
# keeps cookies and the session cookie alone carries the verified session;
# when it does not (the i-mode browser keeps none), the session travels in the
# URL instead (``journey.url_session_value``).
PROBE_COOKIE = "smspay_c"
LANG_COOKIE = "smspay_lang"
COOKIE_PATH = "/l/"
POST_LIMIT = 30  # POSTs per address per minute
POST_WINDOW_SECONDS = 60.0


log = logging.getLogger(__name__)

# ---------------------------------------------------------------- rate limit

# POSTs per client address (the address the trusted proxies report), shared
# by every process (``domain.limits``).
post_limiter: SlidingWindowLimiter[str] = SlidingWindowLimiter(POST_LIMIT, POST_WINDOW_SECONDS, shared="recipient_post")


# ---------------------------------------------------------------- logs


class _RedactTokens(logging.Filter):
    """Access logs never carry link tokens."""

    pattern = re.compile(r"/l/[^/?#\s]+")  # the token, and a URL session after it

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
    return _language_after(request, own_language(request, form), ctx)


def query_value(request: Request, name: str, default: str = "") -> str:
    """A query parameter's value, or ``default``; a request without a query
    string is not parsed (most landing GETs: issue 16, item 2)."""
    if not request.scope.get("query_string"):
        return default
    return request.query_params.get(name, default)


def own_language(request: Request, form: Any = None) -> str | None:
    """The recipient's own choice (the form's, ``?lang=``, the cookie), or None."""
    if form is None and request.method == "POST":
        form = getattr(request.state, "form", None)  # a POST's form (_post_prelude)
    for value in (
        form.get("lang") if form is not None else None,
        query_value(request, "lang"),
        request.cookies.get(LANG_COOKIE) if LANG_COOKIE in request.headers.get("cookie", "") else None,
    ):
        if value and str(value)[:2].lower() in ("ja", "en"):
            return normalise_language(str(value))
    return None


def _language_after(request: Request, own: str | None, ctx: LinkContext | None) -> str:
    """``pick_language`` once the own choice is known (read once per request)."""
    if own is not None:
        return own
    if ctx is not None and ctx.campaign.recipient_language:
        return normalise_language(str(ctx.campaign.recipient_language))
    return language_from_accept(request.headers.get("accept-language"))


def _base(token: str) -> str:
    return f"/l/{token}"


def _clean(token: str) -> str:
    """The link's token without a URL session."""
    return journey.split_link_token(token)[0]


def verified_session(request: Request, ctx: LinkContext, token: str) -> bool:
    """The verified session of this link: the cookie when the browser returned
    one, else (only then) the session in the URL (``/l/{token}.{session}``)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return journey.session_valid(ctx, cookie)
    return journey.url_session_valid(ctx, journey.split_link_token(token)[1])


def _see_other(location: str) -> Response:
    """Post/redirect/get: a POST's result is always shown by a GET."""
    response = RedirectResponse(location, status_code=303)
    response.headers.update({"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    return response


def _after_post(token: str, lang: str, notice: str = "", path: str = "", kept: str = "") -> Response:
    query = f"?lang={lang}" + (f"&e={notice}" if notice else "") + (f"&k={kept}" if kept else "")
    return _see_other(f"{_base(token)}{path}{query}")


# ---------------------------------------------------------------- kept answers


def _kept_answers(request: Request, ctx: LinkContext) -> dict[int, str]:
    """The answers kept after a wrong one (``journey.kept_answers``), by the
    redirect's ``?k=``; only read on a page with a notice (never the hot path)."""
    key = query_value(request, "k")
    if not key:
        return {}
    with session_scope() as session:
        return journey.kept_answers(session, int(ctx.link.id or 0), key)


# ``?e=`` codes a POST redirects with; the page says the rest from the database
IDENTITY_NOTICES = (
    "wrong",
    "expired_code",
    "no_code",
    "too_many_tries",
    "otp_sent",
    "cooldown",
    "cap",
    "otp_failed",
    "session_expired",
    "undecodable",
)
MESSAGE_NOTICES = ("gateway_error", "voucher_sms_sent", "voucher_sms_cap", "voucher_sms_failed")
VOUCHER_NOTICES = ("payer_name_required", "payer_email_invalid", "gateway_error", "method_unavailable")


def _identity_notice(request: Request, ctx: LinkContext, lang: str) -> str:
    code = query_value(request, "e")
    if code not in IDENTITY_NOTICES:
        return ""
    link = ctx.link
    otp_mode = ctx.campaign.verification_mode == "otp"
    if code == "wrong":
        if otp_mode:
            text = t("recipient.otp_wrong", lang, left=max(0, journey.OTP_MAX_TRIES - link.otp_tries))
            return _error_summary(text, [("code", t("recipient.otp_code_label", lang))], lang)
        left = max(0, journey.wrong_answer_limit(ctx.campaign) - link.failed_attempts)
        text = t("recipient.wrong_answer", lang, left=left)
        return _error_summary(text, [(f"q{q.id}", escape(q.label)) for q in ctx.questions], lang)
    elif code == "otp_sent":
        return _notice("ok", t("recipient.otp_sent", lang, minutes=journey.OTP_VALID_SECONDS // 60))
    elif code == "cooldown":
        from smspay_app.domain.clock import utcnow

        elapsed = (utcnow() - link.otp_sent_at).total_seconds() if link.otp_sent_at else 0
        wait = max(1, int(journey.OTP_RESEND_COOLDOWN_SECONDS - elapsed + 0.999))
        text = t("recipient.otp_cooldown", lang, seconds=wait)
    else:
        key = {
            "expired_code": "recipient.otp_expired",
            "no_code": "recipient.otp_no_code",
            "too_many_tries": "recipient.otp_too_many",
            "cap": "recipient.otp_cap",
            "otp_failed": "recipient.otp_failed",
            "session_expired": "recipient.session_expired",
            "undecodable": "recipient.undecodable",
        }[code]
        text = t(key, lang)
    return _notice("err", text)


def _error_summary(text: str, fields: list[tuple[str, str]], lang: str) -> str:
    """The error at the top of the form, with a link to each field to check
    (the message never says which answer was wrong)."""
    links = "".join(f'<li><a href="#{field_id}">{label}</a></li>' for field_id, label in fields)
    heading = t("recipient.error_summary", lang)
    return (
        f'<div class="err" role="alert" id="error-summary" aria-labelledby="error-summary-title">'
        f'<p id="error-summary-title"><b>{heading}</b></p><p>{text}</p><ul>{links}</ul></div>'
    )


def _message_notice(request: Request, lang: str, codes: tuple[str, ...] = MESSAGE_NOTICES) -> str:
    code = query_value(request, "e")
    if code not in codes:
        return ""
    kind = "ok" if code == "voucher_sms_sent" else "err"
    return _notice(kind, t(f"recipient.{code}", lang))


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
    response = html_response(html, status, form_targets=form_targets, charset=page_charset(request))
    response.html = html  # type: ignore[attr-defined]  # before encoding (the identity page's cache)
    _remember_language(request, response)
    return response


def page_charset(request: Request) -> str:
    """``Shift_JIS`` for i-mode / EZweb / Yahoo!ケータイ browsers, else UTF-8."""
    return user_agents.page_charset(request.headers.get("user-agent"))


def _remember_language(request: Request, response: Response) -> None:
    chosen = query_value(request, "lang")
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
        f'<form method="post" action="{escape(action)}" accept-charset="{CHARSET}">'
        f'<input type="hidden" name="_charset_" value="{CHARSET}">{inner}'
        f'<input type="hidden" name="lang" value="{lang}">'
        f'<button class="{cls}" type="submit">{escape(button)}</button></form>'
    )


def unknown_page(request: Request, lang: str) -> Response:
    charset = page_charset(request)  # Shift_JIS for the handsets that need it
    encoded = _unknown_html.get((lang, charset))
    if encoded is None:  # depends only on the language and charset: rendered and encoded once
        title = t("recipient.unknown_title", lang)
        body = _card(f"<h1>{title}</h1><p>{t('recipient.unknown_body', lang)}</p>")
        html = page(title=title, body=body, lang=lang, footer=_footer(lang, None, None))
        encoded = _unknown_html[(lang, charset)] = encode_page(html, charset)
    response = html_response(encoded, 404, charset=charset)
    _remember_language(request, response)
    return response


_unknown_html: dict[tuple[str, str], bytes] = {}


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
    language (and the token), so it is rendered once and cached. A POST's
    outcome arrives as ``?e=`` (post/redirect/get, ``_identity_notice``)."""
    token = _clean(token)  # not verified: no URL session on this page
    if not notice:
        notice = _identity_notice(request, ctx, lang)
    if notice or status != 200:
        kept = _kept_answers(request, ctx)
        page_ = _identity_page(request, lang, ctx, token, notice=notice, status=status, kept=kept)
        return _with_probe(request, page_)
    charset = page_charset(request)
    key = (
        charset,
        lang,
        ctx.campaign.id,
        ctx.campaign.verification_mode,
        bool(ctx.link.otp_hash),
        ctx.organisation.name,
        ctx.organisation.support_phone,
        getattr(ctx.organisation, "official_url", ""),
        getattr(ctx.organisation, "sender_name", ""),
        getattr(ctx.campaign, "page_title", ""),
        tuple((q.id, q.label, q.kind) for q in ctx.questions),
    )
    with _page_cache_lock:
        cached = _page_cache.get(key)
    if cached is None:
        html = _identity_page(request, lang, ctx, _TOKEN_MARK).html  # type: ignore[attr-defined]
        cached = encode_page(html, charset)  # kept encoded: each GET replaces the token's mark in bytes
        with _page_cache_lock:
            _page_cache[key] = cached
            if len(_page_cache) > 2048:
                _page_cache.pop(next(iter(_page_cache)))
    body = cached.replace(_TOKEN_MARK_BYTES, token.encode(CODECS[charset], errors="xmlcharrefreplace"))
    response = html_response(body, charset=charset)
    _remember_language(request, response)
    return _with_probe(request, response)


def _with_probe(request: Request, response: Response) -> Response:
    if PROBE_COOKIE not in request.cookies:
        response.raw_headers.append(_probe_set_cookie(_secure()))
    return response


@lru_cache(maxsize=2)
def _probe_set_cookie(secure: bool) -> tuple[bytes, bytes]:
    """The probe cookie's ``Set-Cookie`` header, made by Starlette once per
    ``secure`` (its ``SimpleCookie`` cost a fifth of the identity page's
    time; issue 16, item 2)."""
    scratch = Response()
    scratch.set_cookie(PROBE_COOKIE, "1", max_age=3600, path=COOKIE_PATH, httponly=True, samesite="lax", secure=secure)
    return next(pair for pair in scratch.raw_headers if pair[0] == b"set-cookie")


_TOKEN_MARK = "\x00\x01token\x01\x00"  # control characters never appear in page text
_TOKEN_MARK_BYTES = _TOKEN_MARK.encode("ascii")  # the same bytes in every charset of CODECS
_page_cache: dict[tuple, bytes] = {}
_page_cache_lock = threading.Lock()


def _trust(lang: str, ctx: LinkContext) -> str:
    """Who asks and why, before anything is asked (issue 14): the sender name
    the SMS carries, the organisation, the campaign's subject and the
    published phone number to check with."""
    from smspay_app.services.sms_message import sender_prefix

    org, campaign = ctx.organisation, ctx.campaign
    fields = {
        "sender": escape(sender_prefix(org)),
        "org": escape(org.name),
        "reason": escape(getattr(campaign, "page_title", "") or campaign.name),
    }
    if org.support_phone:
        phone = escape(org.support_phone)
        tel = escape(re.sub(r"[^0-9+]", "", org.support_phone))
        text = t("recipient.trust", lang, phone=f'<a href="tel:{tel}">{phone}</a>', **fields)
    else:
        text = t("recipient.trust_nophone", lang, **fields)
    official = getattr(org, "official_url", "")
    if official:  # where to check the sender: the organisation's own site
        shown = escape(official.removeprefix("https://").rstrip("/"))
        link = f'<a href="{escape(official)}" rel="noopener noreferrer">{shown}</a>'
        text += " " + t("recipient.trust_official_url", lang, url=link)
    return f'<p id="trust">{text}</p>'


def _identity_page(
    request: Request,
    lang: str,
    ctx: LinkContext,
    token: str,
    *,
    notice: str = "",
    status: int = 200,
    kept: dict[int, str] | None = None,
) -> Response:
    title = t("recipient.verify_title", lang)
    parts = [f"<h1>{title}</h1>", _trust(lang, ctx), notice]
    invalid = ' aria-invalid="true"' if 'id="error-summary"' in notice else ""
    kept = kept or {}
    base = _base(token)
    if ctx.campaign.verification_mode == "otp":
        parts.append(f"<p>{t('recipient.otp_intro', lang)}</p>")
        if ctx.link.otp_hash:
            field = (
                f'<label for="code">{t("recipient.otp_code_label", lang)}</label>'
                '<input type="tel" id="code" name="code" inputmode="numeric" pattern="[0-9０-９]*" '
                f'maxlength="12" autocomplete="one-time-code" required{invalid}>'
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
            hint, described = "", ""
            hint_key = {"date": "recipient.hint_date", "digits": "recipient.hint_digits"}.get(kind)
            if hint_key:  # tied to its field for assistive technology
                hint = f'<span class="hint" id="hint-q{q.id}">{t(hint_key, lang)}</span>'
                described = f' aria-describedby="hint-q{q.id}"'
            value = f' value="{escape(kept[q.id])}"' if q.id in kept and kind != "secret" else ""
            fields.append(
                f'<label for="q{q.id}">{escape(q.label)}</label>{hint}'
                f'<input type="{input_type}" id="q{q.id}" name="q_{q.id}" maxlength="100" '
                f'autocomplete="off" required{described}{invalid}{value}>'
            )
        parts.append(_form(f"{base}/verify", lang, "".join(fields), t("recipient.verify_button", lang)))
    else:
        parts.append(f"<p>{t('recipient.continue_intro', lang)}</p>")
        parts.append(_form(f"{base}/verify", lang, "", t("recipient.continue_button", lang)))
    return _respond(request, lang, title=title, body=_card("".join(parts)), ctx=ctx, token=token, status=status)


def _due_text(ctx: LinkContext, lang: str) -> str:
    due = invoices.due_date(ctx.recipient, ctx.campaign)
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
    top = [notice or _message_notice(request, lang)]
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
        shown = voucher_card(payment, ctx.organisation.timezone, lang, invoices.due_date(recipient, ctx.campaign))
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
    # a long message is shown in parts, one light page each (issue 14); the
    # invoice and the payment come after its last part
    parts = split_message(message)
    try:
        shown_part = min(max(1, int(query_value(request, "p", "1"))), len(parts))
    except ValueError:
        shown_part = 1
    if parts[shown_part - 1]:
        main.append(f'<div class="msg">{escape(parts[shown_part - 1])}</div>')
    if len(parts) > 1:
        main.append(_part_links(base, lang, shown_part, len(parts)))
    if shown_part < len(parts):
        return _respond(
            request,
            lang,
            title=campaign.page_title or campaign.name,
            body="".join(top) + _card("".join(main)),
            ctx=ctx,
            token=token,
        )
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
            voucher_route = (
                f'<a class="btn{"" if _no_hosted_page(request) else " alt"}" href="{base}/voucher?lang={lang}">'
            )
            voucher_route += f"{t('recipient.voucher_route_link', lang)}</a>"
            if _no_hosted_page(request):  # the gateway's page needs a modern browser: our own route only
                main.append(voucher_route)
            else:
                main.append(f"<p class=hint>{t('recipient.pay_note', lang)}</p>")
                main.append(_form(f"{base}/pay", lang, "", t("recipient.pay_button", lang)))
                main.append(voucher_route)
                form_targets = connections.checkout_targets(session, campaign)
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


def _no_hosted_page(request: Request) -> bool:
    """Browsers that cannot run the gateway's hosted page (JavaScript, TLS
    1.2): feature phones get the voucher route instead (issue 14)."""
    return user_agents.classify(request.headers.get("user-agent")) == "feature_phone"


def _gateway(session: Session, ctx: LinkContext) -> PaymentGateway:
    """The payment gateway for this link's campaign: its account
    (``connections.payment_route``), the one place the pages obtain it."""
    return connections.payment_gateway_for(session, ctx.campaign, ctx.recipient.organisation_id)


def _part_links(base: str, lang: str, part: int, parts: int) -> str:
    links = [f"<p>{t('recipient.part_of', lang, part=part, parts=parts)}</p>"]
    if part < parts:
        links.append(f'<a class="btn" href="{base}?p={part + 1}&amp;lang={lang}">{t("recipient.part_next", lang)}</a>')
    if part > 1:
        links.append(
            f'<a class="btn alt" href="{base}?p={part - 1}&amp;lang={lang}">{t("recipient.part_previous", lang)}</a>'
        )
    return f'<nav aria-label="{t("recipient.parts_label", lang)}">{"".join(links)}</nav>'


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
    response is built (group commit in the thread pool, ``_visits``); a
    verified session goes to the ORM path in the thread pool."""
    own = own_language(request)
    ua_class = user_agents.classify(request.headers.get("user-agent"))
    with read_connection() as reader:
        ctx = journey.load_view(reader, token)
    if ctx is None:
        return unknown_page(request, _language_after(request, own, None))
    lang = _language_after(request, own, ctx)
    state = journey.link_state(ctx)
    if state != "ok":
        response = problem_page(request, lang, ctx, token, state)
    elif query_value(request, "e"):
        return None  # a POST's outcome: said from the full context (ORM path)
    elif verified_session(request, ctx, token):
        if journey.split_link_token(token)[1] and request.cookies.get(SESSION_COOKIE):
            return _see_other(_base(_clean(token)))  # the cookie came back: the URL needs no session
        return None  # verified: the caller renders the message in the thread pool
    else:
        response = identity_page(request, lang, ctx, token)
    if not journey.visit_limiter.local or journey.visit_needs_recording(
        ctx, ua_class=ua_class, method=method, state=state
    ):
        response.visit = (ctx, ua_class, method, state)  # written by the caller, off the loop
    return response


def _record_visits(visits: list[tuple[LinkContext, str, str, str]]) -> None:
    """Several GETs' visit rows in one transaction (one commit)."""
    with get_engine().connect() as connection:
        # A shared de-duplication (issue 17) is checked here, off the loop
        # (a local one was checked on the loop: visit_needs_recording).
        journey.record_visits(connection, visits, dedup=not journey.visit_limiter.local)
        connection.commit()


class _VisitWriter:
    """Group commit of the landing GET's visit rows (issue 16, item 2): each
    GET still waits until its own row is committed before it answers, but
    the GETs that arrive while a commit is under way share the next one
    (one thread-pool hop and one SQLite write lock instead of one each,
    which under 32 connections contended for the lock). One per event loop."""

    def __init__(self) -> None:
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._running = False
        self._task: asyncio.Task | None = None  # held: the loop keeps only weak references to tasks

    async def write(self, visit: tuple) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((visit, future))
        if not self._running:
            self._running = True
            self._task = asyncio.ensure_future(self._drain())
        await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:_VISIT_BATCH], self._pending[_VISIT_BATCH:]
                try:
                    await run_in_threadpool(_record_visits, [visit for visit, _ in batch])
                except Exception as exc:  # each waiting GET fails as its own write would have
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for _, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self._running = False


_VISIT_BATCH = 256
_visit_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _VisitWriter] = weakref.WeakKeyDictionary()


async def _write_visit(visit: tuple) -> None:
    loop = asyncio.get_running_loop()
    writer = _visit_writers.get(loop)
    if writer is None:
        writer = _visit_writers[loop] = _VisitWriter()
    await writer.write(visit)


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
        if not verified_session(request, ctx, token):
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
        await _write_visit(visit)
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


_CHARSET_NAMES = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms_kanji": "cp932",
    "windows-31j": "cp932",
    "cp932": "cp932",
    "euc-jp": "euc_jp",
}


def _codec(name: str) -> str:
    return _CHARSET_NAMES.get(name.strip().strip('"').lower(), "")


async def read_form(request: Request) -> tuple[Any, bool]:
    """The POSTed form, decoded in the charset it was sent in (issue 14: a
    Shift_JIS answer decoded as UTF-8 became a wrong answer). The charset is
    the one the request declares (``Content-Type``'s ``charset``, else the
    ``_charset_`` field our forms carry), then UTF-8, then Shift_JIS (cp932),
    each strictly. Returns ``(form, decoded)``; ``decoded`` is False when no
    charset reads the body (the caller counts nothing)."""
    from starlette.datastructures import FormData

    ctype = request.headers.get("content-type", "")
    if ctype and not ctype.lower().startswith("application/x-www-form-urlencoded"):
        return await request.form(), True
    body = await request.body()
    raw: list[tuple[bytes, bytes]] = []
    for piece in body.split(b"&"):
        if not piece:
            continue
        name, _, value = piece.partition(b"=")
        raw.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    declared = ""
    for param in ctype.split(";")[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            declared = _codec(val)
    if not declared:
        declared = next((_codec(v.decode("ascii", "replace")) for k, v in raw if k == b"_charset_"), "")
    for codec in dict.fromkeys(c for c in (declared, "utf-8", "cp932") if c):
        try:
            return FormData([(k.decode(codec), v.decode(codec)) for k, v in raw]), True
        except UnicodeDecodeError:
            continue
    return FormData([(k.decode("utf-8", "replace"), v.decode("utf-8", "replace")) for k, v in raw]), False


async def _post_prelude(request: Request):
    """Common to every POST: read the form, language, rate limit; a POST from
    another site is refused before anything is counted."""
    form, decoded = await read_form(request)
    request.state.form = form
    request.state.form_decoded = decoded
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
        session.commit()  # the click
        return ctx, _after_post(_clean(token), lang)  # the link's GET shows the problem page
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
        if not getattr(request.state, "form_decoded", True):  # never a wrong answer for its encoding
            return _after_post(_clean(token), lang, "undecodable")
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
            target = _clean(token)
            if PROBE_COOKIE not in request.cookies:  # a browser that keeps no cookie
                target = f"{target}.{journey.url_session_value(ctx)}"
            response = _see_other(_base(target))
            return _with_session_cookie(response, result.session_token)
        if result.reason in ("locked", "revoked", "expired"):  # as found under the link's lock
            session.commit()
            return _after_post(_clean(token), lang)  # the link's GET says so (403 / 410)
        session.commit()
        return _after_post(_clean(token), lang, result.reason, kept=result.kept_key)


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
            session.commit()
            return _after_post(_clean(token), lang)
        result = journey.request_otp(session, ctx, lang=lang)
        session.commit()
        if result.reason == "locked":
            return _after_post(_clean(token), lang)
        code = {"sent": "otp_sent", "cooldown": "cooldown", "cap": "cap"}.get(result.reason, "otp_failed")
        return _after_post(_clean(token), lang, code)


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
    if not verified_session(request, ctx, token):
        if via:
            session.commit()  # the click
        return None, _after_post(_clean(token), lang, "session_expired")
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
        try:
            gateway = _gateway(session, ctx)
            payment = payments.open_checkout(session, ctx, gateway)
            if not payment.checkout_url:  # else: the live checkout, handed out again
                session.commit()  # the Payment row exists before the gateway is called
                payment = payments.start_checkout(session, ctx, _clean(token), gateway, payment, lang)
                session.commit()
                payment = payments.close_other_checkouts(session, gateway, payment)
        except payments.PaymentNotAllowed:
            return RedirectResponse(_base(token), status_code=303)
        except GatewayError:
            session.commit()
            return _after_post(token, lang, "gateway_error")
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
        if query_value(request, "session_id"):  # KOMOJU returns here after a cancel too (issue 13)
            payments.returned_from_gateway(session, ctx, request.query_params["session_id"])
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
                form_targets=connections.checkout_targets(session, ctx.campaign),
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
            request,
            lang,
            title=title,
            body=body,
            ctx=ctx,
            token=token,
            form_targets=connections.checkout_targets(session, ctx.campaign),
        )


async def cancelled(request: Request) -> Response:
    return await run_in_threadpool(_cancelled, request, request.path_params["token"])


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def _voucher_route_page(request: Request, token: str) -> Response:
    """GET ``/l/{token}/voucher``: pay at a convenience store or by bank
    transfer without the gateway's hosted page; asks only what the gateway
    requires (konbini: name and e-mail), plain forms, no JavaScript."""
    lang = pick_language(request)
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via=None)
        if problem:
            return problem
        lang = pick_language(request, ctx=ctx)
        try:
            amount = payments.payable_amount(session, ctx)
        except payments.PaymentNotAllowed:
            return _see_other(_base(token))
        base = _base(token)
        title = t("recipient.voucher_route_title", lang)
        parts = [f"<h1>{title}</h1>", _message_notice(request, lang, VOUCHER_NOTICES)]
        parts.append(f"<p>{t('recipient.voucher_route_intro', lang, amount=yen(amount))}</p>")
        methods = payments.direct_methods_for(amount)
        if "konbini" in methods:
            fields = (
                '<input type="hidden" name="method" value="konbini">'
                f'<label for="payer_name">{t("recipient.payer_name", lang)}</label>'
                f'<input type="text" id="payer_name" name="payer_name" maxlength="50" autocomplete="name" '
                f'value="{escape(ctx.recipient.name or "")}" required>'
                f'<label for="payer_email">{t("recipient.payer_email", lang)}</label>'
                f'<span class="hint" id="payer_email_hint">{t("recipient.payer_email_hint", lang)}</span>'
                '<input type="email" id="payer_email" name="payer_email" maxlength="100" autocomplete="email" '
                'inputmode="email" aria-describedby="payer_email_hint" required>'
            )
            parts.append(f"<h2 style='font-size:1.1rem'>{t('recipient.voucher_konbini_form', lang)}</h2>")
            parts.append(_form(f"{base}/voucher", lang, fields, t("recipient.voucher_konbini_button", lang)))
        if "bank_transfer" in methods:
            parts.append(f"<h2 style='font-size:1.1rem'>{t('recipient.voucher_bank_form', lang)}</h2>")
            parts.append(
                _form(
                    f"{base}/voucher",
                    lang,
                    '<input type="hidden" name="method" value="bank_transfer">',
                    t("recipient.voucher_bank_button", lang),
                    alt="konbini" in methods,
                )
            )
        parts.append(f'<p><a href="{base}">{t("recipient.back", lang)}</a></p>')
        return _respond(request, lang, title=title, body=_card("".join(parts)), ctx=ctx, token=token)


def _voucher_route_post(request: Request, token: str, form: Any, lang: str) -> Response:
    """POST ``/l/{token}/voucher``: create the payment through the gateway's
    API (``payments.start_direct_payment``), then show its voucher on the
    recipient's own page (post/redirect/get)."""
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via="pay")
        if problem:
            return problem
        lang = pick_language(request, ctx=ctx)
        method = str(form.get("method", ""))
        name = " ".join(str(form.get("payer_name", "")).split())[:50]
        email = str(form.get("payer_email", "")).strip()[:100]
        try:
            amount = payments.payable_amount(session, ctx)
        except payments.PaymentNotAllowed:
            return _see_other(_base(token))
        if method not in payments.direct_methods_for(amount):
            return _after_post(token, lang, "method_unavailable", "/voucher")
        needs = payments.DIRECT_FIELDS[method]
        if "name" in needs and not name:
            return _after_post(token, lang, "payer_name_required", "/voucher")
        if "email" in needs and not _EMAIL.match(email):
            return _after_post(token, lang, "payer_email_invalid", "/voucher")
        gateway = _gateway(session, ctx)
        try:
            payment = payments.open_direct_payment(session, ctx, gateway)
            session.commit()  # the Payment row exists before the gateway is called
            payments.start_direct_payment(
                session,
                ctx,
                gateway,
                payment,
                method=method,
                payer_name=name if "name" in needs else "",
                payer_email=email if "email" in needs else "",
                lang=lang,
            )
            session.commit()
        except payments.PaymentNotAllowed:
            return _see_other(_base(token))
        except GatewayError as exc:
            session.rollback()
            log.warning("voucher route refused by the gateway: %s %s", exc.code or exc.status, exc.type)
            return _after_post(token, lang, "gateway_error", "/voucher")
        return _after_post(token, lang)


async def voucher_route(request: Request) -> Response:
    token = request.path_params["token"]
    if request.method == "POST":
        form, lang, limited = await _post_prelude(request)
        if limited:
            return limited
        return await run_in_threadpool(_voucher_route_post, request, token, form, lang)
    return await run_in_threadpool(_voucher_route_page, request, token)


async def voucher_sms(request: Request) -> Response:
    form, lang, limited = await _post_prelude(request)
    if limited:
        return limited
    return await run_in_threadpool(_voucher_sms, request, request.path_params["token"], lang)


def _voucher_sms(request: Request, token: str, lang: str) -> Response:
    """The voucher by SMS, on the recipient's request (verified session)."""
    with session_scope() as session:
        ctx, problem = _verified(request, session, token, lang, via="voucher_sms")
        if problem:
            return problem
        state, payment = journey.payment_state(session, ctx)
        result = payments.send_voucher_sms(session, ctx, payment, lang) if state == "processing" and payment else "none"
        session.commit()
        if result == "none":
            return RedirectResponse(_base(token), status_code=303)
        return _after_post(token, lang, f"voucher_sms_{result}")


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
        return _after_post(token, lang)


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
        if confirm:  # post/redirect/get: the GET below says it is done
            optouts.opt_out_by_link(session, ctx.organisation.id, ctx.recipient.id, ctx.recipient.phone_e164)
            session.commit()
            return _see_other(f"{_base(_clean(token))}/optout?lang={lang}&e=done")
        if query_value(request, "e") == "done" and ctx.recipient.status == "opted_out":
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
    Route("/l/{token}/voucher", voucher_route, methods=["GET", "HEAD", "POST"]),
]
