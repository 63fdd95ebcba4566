"""The REST API, version 1 (FastAPI, mounted at ``/api``): paths ``/api/v1/...``,
the OpenAPI document at ``/api/v1/openapi.json``, a docs page at ``/api/v1/docs``.

- **Auth**: ``Authorization: Bearer <API key>``; key scopes ``read``, ``send``,
  ``manage``; the key's IP allowlist against the client address (the
  connection's, or through ``settings.api_trusted_proxies`` proxies).
- **Idempotency**: every POST carries ``Idempotency-Key``; the same key and
  body within 24 hours returns the first completed response (2xx, or a 400/422
  about the body: ``Idempotent-Replayed: true``) and does nothing again; a
  refusal caused by state that can change (404, 409, ...) is not stored; the
  same key with another body is ``422 idempotency_key_reused``.
- **Rate limit** per key (``429`` with ``Retry-After``).
- **Errors**: always ``{"error": {"code", "message", "details"}}``, the message in
  Japanese or English by ``Accept-Language``.

Handlers are thin: they parse, call ``services.api`` and shape the response."""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from smspay_app.db import get_engine
from smspay_app.domain.clock import utcnow
from smspay_app.domain.limits import SlidingWindowLimiter
from smspay_app.domain.links import MAX_LIFETIME_HOURS, MIN_LIFETIME_HOURS
from smspay_app.domain.page_text import MESSAGE_PAGE_CHARS, PAGE_MESSAGE_MAX_CHARS
from smspay_app.domain.sms_text import fields_from_merge_data
from smspay_app.i18n import language_from_accept, t
from smspay_app.models import Campaign, IdempotencyRecord, InvoiceLine, Recipient
from smspay_app.services import api as api_service
from smspay_app.services import api_keys, campaigns, recipients
from smspay_app.services.actions import ActionRefused
from smspay_app.services.api_keys import ApiCaller
from smspay_app.services.sending import SendingError
from smspay_app.settings import get_settings

log = logging.getLogger("smspay.api")
IDEMPOTENCY_TTL = timedelta(hours=24)
# How long a request may hold its Idempotency-Key "in progress": a record still
# in progress after this belongs to a request that can no longer be running.
# Every API request ends well within it (at most MAX_ITEMS recipients).
IN_PROGRESS_LEASE = timedelta(seconds=45)
# Refusals that depend only on the request body (invalid fields): replayed.
# Everything else a 4xx says (not found, conflict, scope, rate) can change.
REPLAYED_REFUSALS = (400, 422)
INT32 = 2**31 - 1


# ------------------------------------------------------------------ errors


class ApiError(Exception):
    """An API refusal. ``replayable=False``: a refusal that can change for the
    same body (e.g. items refused as duplicates or opted out), never stored
    under its Idempotency-Key even when its status usually is."""

    def __init__(
        self,
        status: int,
        code: str,
        *,
        details: list[dict] | None = None,
        headers: dict | None = None,
        replayable: bool = True,
        **fields,
    ):
        super().__init__(code)
        self.status, self.code, self.details, self.headers, self.fields = status, code, details or [], headers, fields
        self.replayable = replayable


class ErrorDetail(BaseModel):
    field: str = Field(description="Where: a body field path such as recipients.0.phone, or empty")
    code: str = Field(description="Machine code of this problem")
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Machine code, stable across languages")
    message: str = Field(description="Human message in the language of Accept-Language (ja default, en)")
    details: list[ErrorDetail] = []


class ErrorBody(BaseModel):
    error: ErrorInfo


def _lang(request: Request) -> str:
    return language_from_accept(request.headers.get("accept-language"))


def error_response(request: Request, status: int, code: str, details=None, headers=None, **fields) -> JSONResponse:
    message = t(f"api.error.{code}", _lang(request), **fields) if fields else t(f"api.error.{code}", _lang(request))
    body = {"error": {"code": code, "message": message, "details": details or []}}
    return JSONResponse(body, status_code=status, headers=headers)


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (400, "Bad request (e.g. missing Idempotency-Key)"),
        (401, "Missing, wrong or revoked API key"),
        (403, "Address outside the key's allowlist, or a scope missing"),
        (404, "Not found (or another organisation's)"),
        (409, "Conflict with the current state"),
        (422, "Invalid request; per-field details"),
        (429, "Rate limited; see Retry-After"),
    )
}


# ------------------------------------------------------------------ models


class QuestionIn(BaseModel):
    label: str = Field(min_length=1, max_length=100)
    column: str = Field(min_length=1, max_length=64, description="The recipient field holding the expected answer")
    kind: Literal["date", "digits", "text", "secret"] = "text"


class InvoiceLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=100_000)
    unit_price_yen: int = Field(ge=0, le=10_000_000, description="Tax included")
    tax_rate: Literal[10, 8] = Field(default=10, description="Consumption tax, percent: 10, or 8 (reduced rate)")


class InvoiceLineOut(BaseModel):
    item: str
    quantity: int
    unit_price_yen: int
    tax_rate: int


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    template_campaign_id: int | None = Field(
        default=None,
        ge=1,
        le=INT32,
        description="Copy SMS text, page, payment settings, questions and invoice lines from this campaign; "
        "fields given here override.",
    )
    sms_template: str | None = Field(
        default=None, max_length=2000, description="SMS text with {{field}} merge fields and {{link}}"
    )
    page_title: str | None = Field(default=None, max_length=200)
    page_message: str | None = Field(
        default=None,
        max_length=PAGE_MESSAGE_MAX_CHARS,
        description=f"At most {PAGE_MESSAGE_MAX_CHARS} characters; the recipient page shows a long message in "
        f"parts of about {MESSAGE_PAGE_CHARS} characters with next / previous links",
    )
    payment_enabled: bool | None = None
    amount_yen: int | None = Field(default=None, ge=0, le=10_000_000)
    due_date: date | None = None
    link_lifetime_hours: int | None = Field(default=None, ge=MIN_LIFETIME_HOURS, le=MAX_LIFETIME_HOURS)
    questions: list[QuestionIn] | None = Field(default=None, max_length=4)
    closes_at: datetime | None = Field(
        default=None,
        description="When the campaign's work ends (RFC 3339): it is closed then, nothing more is sent. "
        "Omitted: it stays active until closed (POST /campaigns/{id}/close).",
    )
    verification_mode: Literal["questions", "otp"] | None = Field(
        default=None,
        description="How recipients prove who they are: questions (default), or otp: a one-time code by SMS "
        "(then no questions)",
    )
    ask_read_confirmation: bool | None = Field(
        default=None, description="Notices without payment: ask 'I have read it'"
    )
    quiet_hours_start: str | None = Field(
        default=None,
        pattern=r"^([01]?\d|2[0-3]):[0-5]\d$",
        description="This campaign's own quiet hours (HH:MM, with quiet_hours_end); omitted: the organisation's",
    )
    quiet_hours_end: str | None = Field(default=None, pattern=r"^([01]?\d|2[0-3]):[0-5]\d$")
    invoice_lines: list[InvoiceLineIn] | None = Field(
        default=None,
        max_length=20,
        description="The campaign's invoice lines with their tax rate; with no amount_yen their total is the amount",
    )
    recipient_language: Literal["ja", "en"] | None = Field(
        default=None, description="The recipients' language (SMS code texts, pages, checkout); default ja"
    )
    sms_connection_id: int | None = Field(
        default=None,
        ge=1,
        le=INT32,
        description="The SMS connection it sends through (GET /connections: an enabled SMS connection of the "
        "organisation); omitted: the organisation's default",
    )
    payment_connection_id: int | None = Field(
        default=None,
        ge=1,
        le=INT32,
        description="The payment connection its payments go through (an enabled payment connection of the "
        "organisation); omitted: the organisation's default",
    )


class QuestionOut(BaseModel):
    label: str
    column: str
    kind: str


class Counts(BaseModel):
    recipients: int
    sent: int
    delivered: int
    clicked: int
    verified: int
    paid: int
    failed: int


class CampaignOut(BaseModel):
    id: int
    name: str
    status: str
    sms_template: str
    page_title: str
    payment_enabled: bool
    amount_yen: int
    due_date: date | None
    link_lifetime_hours: int
    created_at: datetime
    closes_at: datetime | None
    questions: list[QuestionOut]
    verification_mode: str
    ask_read_confirmation: bool
    quiet_hours_start: str | None = Field(description="The campaign's own quiet hours; null: the organisation's")
    quiet_hours_end: str | None
    invoice_lines: list[InvoiceLineOut]
    recipient_language: str
    sms_connection_id: int | None = Field(description="The campaign's own SMS connection; null: the default")
    payment_connection_id: int | None = Field(description="The campaign's own payment connection; null: the default")
    counts: Counts


class ConnectionOut(BaseModel):
    id: int
    kind: str = Field(description="sms | payment")
    provider: str = Field(description="sms: simulator | twilio | karaden; payment: sandbox | stripe | komoju")
    label: str
    is_default: bool = Field(description="the organisation's default of its kind")


class ConnectionList(BaseModel):
    data: list[ConnectionOut] = Field(description="the organisation's enabled connections (never a credential)")


class SendOut(BaseModel):
    queued: int = Field(description="How many SMS were queued (recipients still created)")
    campaign: CampaignOut


class CampaignList(BaseModel):
    items: list[CampaignOut]


class CapabilityNote(BaseModel):
    capability: Literal["two_way", "delivery_receipts", "carrier", "lookup"]
    code: str = Field(description="stable i18n key")
    message: str = Field(description="why, in the request's language (Accept-Language ja/en)")


class SmsCapabilitiesOut(BaseModel):
    provider: str = Field(description="the organisation's SMS provider: simulator | twilio")
    country: str = Field(description="the destination country the capabilities are for (ISO 3166 alpha-2)")
    two_way: bool = Field(description="replies, and opt-out by reply, reach smspay")
    delivery_receipts: bool
    carrier: bool = Field(description="the provider tells the carrier of each message")
    lookup: bool = Field(description="a carrier lookup is available")
    notes: list[CapabilityNote] = Field(description="for each missing capability with a known reason, why")


class RecipientLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=1, ge=1, le=100_000)
    unit_price_yen: int = Field(ge=0, le=10_000_000)


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=40, description="Japanese or E.164 number; full-width digits accepted")
    name: str | None = Field(default=None, max_length=200)
    amount_yen: int | None = Field(default=None, ge=0, le=10_000_000, description="Default: the campaign's amount")
    due_date: str | None = Field(default=None, max_length=40, description="2030-04-30, 2030/4/30, 令和12年4月30日 ...")
    reference: str | None = Field(
        default=None, max_length=100, description="Your own reference (order number...): shown as reference"
    )
    customer_number: str | None = Field(
        default=None, max_length=100, description="The customer number the SMS and page show ({{customer_number}})"
    )
    lines: list[RecipientLineIn] | None = Field(
        default=None,
        max_length=20,
        description="This recipient's own invoice lines; their total is the amount (amount_yen, if given, must equal it)",
    )
    fields: dict[str, str] | None = Field(
        default=None,
        max_length=50,
        description="Merge fields for the SMS and page, and identity answers by question column",
    )


class AddRecipients(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipients: list[RecipientIn] = Field(min_length=1, max_length=api_service.MAX_ITEMS)
    send: bool = Field(default=False, description="Queue the SMS of the added recipients now")


class Steps(BaseModel):
    created_at: datetime
    queued_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    clicked_at: datetime | None
    verified_at: datetime | None
    read_at: datetime | None
    paid_at: datetime | None
    failed_at: datetime | None
    expired_at: datetime | None
    locked_at: datetime | None
    opted_out_at: datetime | None
    cancelled_at: datetime | None


class RecipientOut(BaseModel):
    id: int
    campaign_id: int
    status: str = Field(
        description="The funnel status (created, queued, sent, delivered, clicked, verified, read, paid, failed, "
        "expired, locked, opted_out, cancelled), or payment_pending while a konbini / bank-transfer payment is "
        "under way (see payment_deadline)"
    )
    payment_deadline: datetime | None = Field(
        default=None, description="When the pending payment lapses (payment_pending only; null when unknown)"
    )
    phone: str | None  # null once erased by retention
    name: str
    amount_yen: int
    due_date: date | None
    reference: str | None
    customer_number: str | None = Field(default=None, description="{{customer_number}}; null when none")
    steps: Steps = Field(description="First time of every step, UTC")


class ItemOut(BaseModel):
    index: int
    recipient_id: int | None
    errors: list[ErrorDetail]


class AddRecipientsOut(BaseModel):
    added: int
    rejected: int
    items: list[ItemOut]


class PaymentRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: int = Field(ge=1, le=INT32, description="The campaign whose SMS text, page and settings to use")
    recipient: RecipientIn


class RecipientPage(BaseModel):
    items: list[RecipientOut]
    next_after: int | None = Field(description="Pass as `after` for the next page; null at the end")


# ------------------------------------------------------------------ shaping


def _aware(value: datetime | None) -> datetime | None:
    """The database keeps naive UTC; the API says so (RFC 3339, ``Z``)."""
    return value.replace(tzinfo=UTC) if value is not None else None


def _naive_utc(value: datetime | None) -> datetime | None:
    """An API time (with an offset, or UTC when it has none) as the database's naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def campaign_out(session: Session, campaign: Campaign) -> CampaignOut:
    n = campaigns.funnel_counts(session, campaign.id)
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        sms_template=campaign.sms_template,
        page_title=campaign.page_title,
        payment_enabled=campaign.payment_enabled,
        amount_yen=campaign.amount_yen,
        due_date=campaign.due_date,
        link_lifetime_hours=campaign.link_lifetime_hours,
        created_at=_aware(campaign.created_at),
        closes_at=_aware(campaign.closes_at),
        questions=[
            QuestionOut(label=q.label, column=q.column, kind=q.kind)
            for q in campaigns.questions_of(session, campaign.id)
        ],
        verification_mode=campaign.verification_mode,
        ask_read_confirmation=campaign.ask_read_confirmation,
        quiet_hours_start=campaign.quiet_hours_start,
        quiet_hours_end=campaign.quiet_hours_end,
        invoice_lines=[
            InvoiceLineOut(item=l.item, quantity=l.quantity, unit_price_yen=l.unit_price_yen, tax_rate=l.tax_rate)
            for l in session.exec(
                select(InvoiceLine).where(InvoiceLine.campaign_id == campaign.id).order_by(InvoiceLine.position)
            )
        ],
        recipient_language=campaign.recipient_language,
        sms_connection_id=campaign.sms_connection_id,
        payment_connection_id=campaign.payment_connection_id,
        counts=Counts(**{k: int(n.get(k) or 0) for k in Counts.model_fields}),
    )


def _merge_value(r: Recipient, name: str) -> str | None:
    """A merge field as the recipient's SMS and page read it (domain.sms_text
    owns reading merge_data); None once erased or when empty."""
    if r.erased_at is not None:
        return None
    return fields_from_merge_data(r.merge_data).get(name) or None


def recipient_out(session: Session, r: Recipient) -> RecipientOut:
    shown = recipients.shown_state(session, r)
    return RecipientOut(
        id=r.id,
        campaign_id=r.campaign_id,
        status=shown.status,
        payment_deadline=_aware(shown.payment_deadline),
        phone=None if r.erased_at is not None else r.phone_e164,  # never the "erased-<id>" placeholder
        name=r.name,
        amount_yen=r.amount_yen,
        due_date=r.due_date,
        reference=r.external_ref or None,
        customer_number=_merge_value(r, "customer_number"),
        steps=Steps(**{name: _aware(getattr(r, name)) for name in Steps.model_fields}),
    )


# ------------------------------------------------------------------ rate limit


# Requests per API key in the last 60 s (shared by every process, see
# ``domain.limits``); each key's own ``rate_limit_per_minute`` is the limit.
rate_limiter: SlidingWindowLimiter[int] = SlidingWindowLimiter(1, 60.0, shared="api_key")


# ------------------------------------------------------------------ auth


bearer = HTTPBearer(auto_error=False, description="An API key created under Developers (shown once).")


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> ApiCaller:
    address = api_keys.client_address_of(request)
    with Session(get_engine(), expire_on_commit=False) as session:
        result = api_keys.authenticate(session, credentials.credentials if credentials else None, address)
        session.commit()  # the key's last_used_at
    if result.caller is None:
        status = 401 if result.error == "unauthenticated" else 403
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        raise ApiError(status, result.error, headers=headers)
    remaining = rate_limiter.hit(result.caller.api_key_id, limit=result.caller.rate_limit_per_minute)
    if remaining is not None:
        wait = max(1, math.ceil(remaining))
        raise ApiError(429, "rate_limited", headers={"Retry-After": str(wait)}, retry_after=wait)
    return result.caller


def scope(name: str) -> Callable[..., ApiCaller]:
    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> ApiCaller:
        caller = _authenticate(request, credentials)
        if not caller.has_scope(name):
            raise ApiError(403, "insufficient_scope", scope=name)
        return caller

    return dependency


Reader = Annotated[ApiCaller, Depends(scope("read"))]
Sender = Annotated[ApiCaller, Depends(scope("send"))]
Manager = Annotated[ApiCaller, Depends(scope("manage"))]
IdemKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Unique per operation (a UUID, say). Same key + same body within 24 h: the first response again.",
    ),
]
Id = Annotated[int, Path(ge=1, le=INT32)]


# ------------------------------------------------------------------ idempotency


def idempotent(
    request: Request, caller: ApiCaller, key: str, body: BaseModel | None, run: Callable[[Session], tuple[int, Any]]
) -> JSONResponse:
    """Run ``run`` once per (key, request); replay its stored result after.

    Only a *completed* result is stored and replayed (``_replayable``): a 2xx,
    or a refusal the same body always gets (400, 422). A 404, 403, 409 or 429
    depends on state that can change (a campaign created a moment later, a
    status that moves): it is answered, not stored, and the same key may be
    retried. While the first request runs its record is *in progress*, with a
    lease of ``IN_PROGRESS_LEASE`` from its start: a request still in progress
    after that can no longer be running (a crashed process, a killed worker), so
    the next request with the key takes the record over; should the first one
    still finish, its conditional write finds the record gone and its work is
    rolled back (one outcome per key)."""
    canonical = json.dumps(
        {"method": request.method, "path": request.url.path, "body": body.model_dump(mode="json") if body else None},
        sort_keys=True,
        ensure_ascii=False,
    )
    request_hash = hashlib.sha256(canonical.encode()).hexdigest()
    now = utcnow()
    with Session(get_engine(), expire_on_commit=False) as session:
        mine = IdempotencyRecord.api_key_id == caller.api_key_id, IdempotencyRecord.key == key
        session.execute(delete(IdempotencyRecord).where(*mine, IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL))
        # An in-progress record past its lease: its request died; the key is free again.
        session.execute(
            delete(IdempotencyRecord).where(
                *mine,
                IdempotencyRecord.status_code.is_(None),
                IdempotencyRecord.created_at < now - IN_PROGRESS_LEASE,
            )
        )
        record = IdempotencyRecord(api_key_id=caller.api_key_id, key=key, request_hash=request_hash, created_at=now)
        session.add(record)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            first = session.exec(select(IdempotencyRecord).where(*mine)).first()
            if first is None:  # the other request ended unstored a moment ago: retry
                raise ApiError(409, "idempotency_in_progress", headers={"Retry-After": "1"}) from None
            if first.request_hash != request_hash:
                raise ApiError(422, "idempotency_key_reused") from None
            if first.status_code is None:
                raise ApiError(409, "idempotency_in_progress", headers={"Retry-After": "1"}) from None
            return JSONResponse(
                json.loads(first.response_body), status_code=first.status_code, headers={"Idempotent-Replayed": "true"}
            )
        replayable = True
        try:
            status, payload = run(session)
        except ApiError as exc:
            session.rollback()  # nothing of a refused request is kept
            status, payload = exc.status, _error_payload(request, exc)
            replayable = exc.replayable
        except BaseException:
            session.rollback()
            session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
            session.commit()
            raise
        ours = (IdempotencyRecord.id == record.id, IdempotencyRecord.status_code.is_(None))
        if replayable and _replayable(status):
            written = session.execute(
                update(IdempotencyRecord)
                .where(*ours)
                .values(status_code=status, response_body=json.dumps(payload, ensure_ascii=False, default=str))
            )
        else:
            written = session.execute(delete(IdempotencyRecord).where(*ours))
        if written.rowcount != 1:
            # Past its lease, another request with this key took over: ours never happened.
            session.rollback()
            raise ApiError(409, "idempotency_in_progress", headers={"Retry-After": "1"})
        session.commit()
    return JSONResponse(payload, status_code=status)


def _replayable(status: int) -> bool:
    """A result the same request always gets: stored and replayed under its key."""
    return 200 <= status < 300 or status in REPLAYED_REFUSALS


def _error_payload(request: Request, exc: ApiError) -> dict:
    lang = _lang(request)
    message = t(f"api.error.{exc.code}", lang, **exc.fields) if exc.fields else t(f"api.error.{exc.code}", lang)
    return {"error": {"code": exc.code, "message": message, "details": exc.details}}


def _dump(model: BaseModel) -> dict:
    return model.model_dump(mode="json")


def _sending_conflict(request: Request, exc: SendingError | ActionRefused) -> ApiError:
    return ApiError(409, "conflict", reason=exc.text(_lang(request)))


# ------------------------------------------------------------------ app


DOCS_ASSETS = "/v1/docs/assets"


def _mount_docs(app: FastAPI) -> None:
    """``/v1/docs``: Swagger UI from the app itself, never a CDN, so the
    reference renders offline and behind a strict firewall (issue 15 item 6).
    The files are Swagger UI 5's release files as the ``swagger-ui-py``
    package ships them (``swagger_ui/static``; 5.x reads the OpenAPI 3.1
    document FastAPI writes, the 4.x of other bundles cannot); only the
    files are used, none of its framework glue."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = str(files("swagger_ui") / "static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=static), name="docs-assets")

    @app.get("/v1/docs", include_in_schema=False)
    async def _docs(request: Request):
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or ""),
            title=f"{app.title} - API reference",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )


def create_api() -> FastAPI:
    app = FastAPI(
        title="smspay API",
        version="1.0.0",
        description="SMS payment links: campaigns, recipients, payment requests and their status. "
        "Authenticate with `Authorization: Bearer <API key>`; send `Idempotency-Key` on every POST.",
        openapi_url="/v1/openapi.json",
        docs_url=None,  # served below with the app's own Swagger UI files
        redoc_url=None,
        responses=_ERROR_RESPONSES,
    )
    _mount_docs(app)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(_error_payload(request, exc), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        details = []
        missing_idem = bad_idem = False
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            if loc[:1] == ["header"] and len(loc) > 1 and loc[1].lower() == "idempotency-key":
                # Absent, or present but not 1-255 characters (issue 18, item
                # 11: a 256-character key was refused as "required").
                if err.get("type") == "missing":
                    missing_idem = True
                else:
                    bad_idem = True
            where = ".".join(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else ".".join(loc)
            details.append(
                {"field": where, "code": str(err.get("type", "invalid")), "message": str(err.get("msg", ""))}
            )
        if missing_idem:
            return error_response(request, 400, "idempotency_key_required")
        if bad_idem:
            return error_response(request, 400, "idempotency_key_invalid")
        return error_response(request, 422, "invalid_request", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Every method of the path, not only the first route's (issue 18,
            # item 11: OPTIONS answered "Allow: POST" where GET exists too).
            from starlette.routing import Match

            methods: set[str] = set()
            for route in app.router.routes:
                match, _ = route.matches(request.scope)
                if match in (Match.FULL, Match.PARTIAL):
                    methods |= set(getattr(route, "methods", None) or ())
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return error_response(request, exc.status_code, code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("API error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal_error")

    # ---------------------------------------------------------- campaigns

    @app.post("/v1/campaigns", status_code=201, response_model=CampaignOut, tags=["campaigns"])
    def create_campaign(body: CampaignCreate, request: Request, caller: Manager, idempotency_key: IdemKey):
        """Create a campaign, from a template campaign or from scratch."""

        def run(session: Session):
            given = {k for k in body.model_fields_set if getattr(body, k) is not None}
            data = campaigns.CampaignInput(
                name=body.name,
                sms_template=body.sms_template or "",
                page_title=body.page_title or "",
                page_message=body.page_message or "",
                payment_enabled=True if body.payment_enabled is None else body.payment_enabled,
                amount_yen=body.amount_yen or 0,
                due_date=body.due_date,
                link_lifetime_hours=body.link_lifetime_hours or get_settings().default_link_lifetime_hours,
                questions=[campaigns.QuestionInput(q.label, q.column, q.kind) for q in body.questions or []],
                closes_at=_naive_utc(body.closes_at),
                verification_mode=body.verification_mode or "questions",
                ask_read_confirmation=bool(body.ask_read_confirmation),
                quiet_hours_start=body.quiet_hours_start,
                quiet_hours_end=body.quiet_hours_end,
                invoice_lines=[
                    campaigns.InvoiceLineInput(l.item, l.quantity, l.unit_price_yen, l.tax_rate)
                    for l in body.invoice_lines or []
                ],
                recipient_language=body.recipient_language or "ja",
                sms_connection_id=body.sms_connection_id,
                payment_connection_id=body.payment_connection_id,
            )
            try:
                campaign = api_service.create_campaign(
                    session, caller, data, template_campaign_id=body.template_campaign_id, given=given
                )
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None
            except campaigns.CampaignInvalid as exc:
                lang = _lang(request)
                raise ApiError(
                    422,
                    "campaign_invalid",
                    details=[{"field": e.field, "code": e.key, "message": t(e.key, lang)} for e in exc.errors],
                ) from None
            return 201, _dump(campaign_out(session, campaign))

        return idempotent(request, caller, idempotency_key, body, run)

    @app.get("/v1/connections", response_model=ConnectionList, tags=["campaigns"])
    def list_connections(caller: Manager):
        """The organisation's enabled SMS and payment connections a campaign may
        pick (sms_connection_id / payment_connection_id); no credential."""
        from smspay_app.services import connections

        with Session(get_engine()) as session:
            rows = [
                c for kind in connections.KINDS for c in connections.pick_choices(session, caller.organisation_id, kind)
            ]
            return ConnectionList(
                data=[
                    ConnectionOut(id=c.id, kind=c.kind, provider=c.provider, label=c.label, is_default=c.is_default)
                    for c in rows
                ]
            )

    @app.get("/v1/sms/capabilities", response_model=SmsCapabilitiesOut, tags=["sms"])
    def sms_capabilities(request: Request, caller: Reader):
        """What the organisation's SMS provider carries (replies, delivery receipts,
        carrier, lookup) and why not where it does not (Twilio and Japanese
        numbers: no replies; recipients opt out on their page)."""
        from smspay_app.services import replies

        with Session(get_engine()) as session:
            provider, country, caps = replies.capabilities_of(session, caller.organisation_id)
        notes = []
        if not caps.two_way and caps.two_way_note:
            notes.append(
                CapabilityNote(
                    capability="two_way", code=caps.two_way_note, message=t(caps.two_way_note, _lang(request))
                )
            )
        return SmsCapabilitiesOut(
            provider=provider,
            country=country,
            two_way=caps.two_way,
            delivery_receipts=caps.delivery_receipts,
            carrier=caps.carrier,
            lookup=caps.lookup,
            notes=notes,
        )

    @app.get("/v1/campaigns", response_model=CampaignList, tags=["campaigns"])
    def list_campaigns(caller: Reader):
        with Session(get_engine()) as session:
            rows = campaigns.list_campaigns(session, caller)
            return CampaignList(items=[campaign_out(session, c) for c, _ in rows[:200]])

    @app.get("/v1/campaigns/{campaign_id}", response_model=CampaignOut, tags=["campaigns"])
    def get_campaign(campaign_id: Id, caller: Reader):
        with Session(get_engine()) as session:
            campaign = campaigns.get_campaign(session, caller, campaign_id)
            if campaign is None:
                raise ApiError(404, "not_found")
            return campaign_out(session, campaign)

    def _campaign_change(action: str, campaign_id: int, request: Request, caller: ApiCaller, key: str):
        def run(session: Session):
            try:
                campaign = api_service.change_campaign(session, caller, campaign_id, action)
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None
            except SendingError as exc:
                raise _sending_conflict(request, exc) from None
            return 200, _dump(campaign_out(session, campaign))

        return idempotent(request, caller, key, None, run)

    @app.post("/v1/campaigns/{campaign_id}/send", response_model=SendOut, tags=["campaigns"])
    def send_campaign(campaign_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Send every recipient not sent yet (added with `"send": false`): a draft
        campaign starts sending, an active one sends again, a paused one keeps
        them until resumed. Quiet hours hold the SMS until they end."""

        def run(session: Session):
            try:
                campaign, queued = api_service.send_unsent(session, caller, campaign_id)
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None
            except SendingError as exc:
                raise _sending_conflict(request, exc) from None
            except ActionRefused as exc:
                raise _sending_conflict(request, exc) from None
            return 200, _dump(SendOut(queued=queued, campaign=campaign_out(session, campaign)))

        return idempotent(request, caller, idempotency_key, None, run)

    @app.post("/v1/campaigns/{campaign_id}/cancel", response_model=CampaignOut, tags=["campaigns"])
    def cancel_campaign(campaign_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Cancel the campaign (in any status but closed or cancelled): SMS not
        yet sent, reminders and messages held for quiet hours included, are not sent."""
        return _campaign_change("cancel", campaign_id, request, caller, idempotency_key)

    @app.post("/v1/campaigns/{campaign_id}/pause", response_model=CampaignOut, tags=["campaigns"])
    def pause_campaign(campaign_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Pause a scheduled, sending or active campaign: nothing leaves and no
        reminder is queued until it is resumed."""
        return _campaign_change("pause", campaign_id, request, caller, idempotency_key)

    @app.post("/v1/campaigns/{campaign_id}/resume", response_model=CampaignOut, tags=["campaigns"])
    def resume_campaign(campaign_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Resume a paused campaign: held and queued SMS and reminders go out again."""
        return _campaign_change("resume", campaign_id, request, caller, idempotency_key)

    @app.post("/v1/campaigns/{campaign_id}/close", response_model=CampaignOut, tags=["campaigns"])
    def close_campaign(campaign_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Close an active or paused campaign: its work is over; nothing more is
        sent (queued reminders are cancelled) or added."""
        return _campaign_change("close", campaign_id, request, caller, idempotency_key)

    # ---------------------------------------------------------- recipients

    def _add(
        session: Session, request: Request, caller: ApiCaller, campaign_id: int, items: list[RecipientIn], send: bool
    ):
        try:
            results = api_service.add_recipients(
                session, caller, campaign_id, [i.model_dump() for i in items], send=send, lang=_lang(request)
            )
        except api_service.NotFound:
            raise ApiError(404, "not_found") from None
        except SendingError as exc:
            raise _sending_conflict(request, exc) from None
        return results

    @app.post("/v1/campaigns/{campaign_id}/recipients", response_model=AddRecipientsOut, tags=["recipients"])
    def add_recipients(
        campaign_id: Id, body: AddRecipients, request: Request, caller: Sender, idempotency_key: IdemKey
    ):
        """Add one or many recipients (the CSV import's validation; per-item
        errors; valid items are added). ``send: true`` queues their SMS now."""

        def run(session: Session):
            results = _add(session, request, caller, campaign_id, body.recipients, body.send)
            out = AddRecipientsOut(
                added=sum(1 for r in results if r.recipient_id is not None),
                rejected=sum(1 for r in results if r.recipient_id is None),
                items=[ItemOut(index=r.index, recipient_id=r.recipient_id, errors=r.errors) for r in results],
            )
            return 200, _dump(out)

        return idempotent(request, caller, idempotency_key, body, run)

    @app.get("/v1/campaigns/{campaign_id}/recipients", response_model=RecipientPage, tags=["recipients"])
    def list_recipients(
        campaign_id: Id,
        caller: Reader,
        after: Annotated[int, Query(ge=0, le=INT32, description="Last id of the previous page")] = 0,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        status: Annotated[str | None, Query(max_length=20)] = None,
    ):
        with Session(get_engine()) as session:
            try:
                rows = api_service.list_recipients(
                    session, caller, campaign_id, after=after, limit=limit, status=status
                )
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None
            return RecipientPage(
                items=[recipient_out(session, r) for r in rows], next_after=rows[-1].id if len(rows) == limit else None
            )

    @app.post("/v1/payment-requests", status_code=201, response_model=RecipientOut, tags=["recipients"])
    def send_payment_request(body: PaymentRequestIn, request: Request, caller: Sender, idempotency_key: IdemKey):
        """One recipient, one call: added to the campaign and its SMS queued at
        once (the in-app worker sends it within a second or so)."""

        def run(session: Session):
            results = _add(session, request, caller, body.campaign_id, [body.recipient], True)
            result = results[0]
            if result.recipient_id is None:
                lasting = not any(e.get("code") in api_service.STATE_DEPENDENT_ERRORS for e in result.errors)
                raise ApiError(422, "recipients_rejected", details=result.errors, replayable=lasting)
            return 201, _dump(recipient_out(session, api_service.get_recipient(session, caller, result.recipient_id)))

        return idempotent(request, caller, idempotency_key, body, run)

    @app.get("/v1/recipients/{recipient_id}", response_model=RecipientOut, tags=["recipients"])
    def get_recipient(recipient_id: Id, caller: Reader):
        """Status and the first time of every step."""
        with Session(get_engine()) as session:
            try:
                return recipient_out(session, api_service.get_recipient(session, caller, recipient_id))
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None

    def _recipient_action(action, recipient_id: int, request: Request, caller: ApiCaller, key: str):
        def run(session: Session):
            try:
                recipient = action(session, caller, recipient_id)
            except api_service.NotFound:
                raise ApiError(404, "not_found") from None
            except ActionRefused as exc:
                if exc.key == "ops.error.not_found":
                    raise ApiError(404, "not_found") from None
                raise _sending_conflict(request, exc) from None
            except SendingError as exc:
                raise _sending_conflict(request, exc) from None
            session.flush()
            session.refresh(recipient)
            return 200, _dump(recipient_out(session, recipient))

        return idempotent(request, caller, key, None, run)

    @app.post("/v1/recipients/{recipient_id}/reissue", response_model=RecipientOut, tags=["recipients"])
    def reissue(recipient_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """A fresh link by SMS; the old link stops working at once."""
        return _recipient_action(api_service.reissue, recipient_id, request, caller, idempotency_key)

    @app.post("/v1/recipients/{recipient_id}/cancel", response_model=RecipientOut, tags=["recipients"])
    def cancel_recipient(recipient_id: Id, request: Request, caller: Sender, idempotency_key: IdemKey):
        """Stop this payment request: nothing more is sent, the link stops working."""
        return _recipient_action(api_service.cancel_recipient, recipient_id, request, caller, idempotency_key)

    return app
