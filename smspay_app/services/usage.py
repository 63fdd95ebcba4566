"""Usage per organisation: SMS sent and segments per calendar month (in the
organisation's time zone), by provider and by campaign. The basis is the send
attempts the provider accepted (``accepted_at`` set; what a provider bills),
so the figures survive the deletion of an organisation (attempts are kept).

Shown to the organisation's admins (``usage.view``, their own organisation
only) and to the installation owner (``installation.manage``, any).

The optional monthly cap (``Organisation.monthly_sms_cap``) and suspension
are enforced by ``claim_gate``, the one check the dispatcher makes per claim
cycle: attempts of suspended or deleted organisations are not claimed; an
organisation with a cap gets at most ``cap - used`` claims (accepted this
month plus attempts in flight), and once nothing is left its sending
campaigns that still wait are paused with ``sending.paused.usage_cap``: the
cap is reached exactly, never passed by one."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, update
from sqlmodel import Session, select

from smspay_app.domain.attempts import AttemptStatus
from smspay_app.domain.campaigns import CampaignStatus
from smspay_app.domain.clock import utcnow
from smspay_app.i18n import CATALOG, t
from smspay_app.models import Campaign, Organisation, SendAttempt
from smspay_app.services import sending
from smspay_app.services.auth import Caller, NotAllowed
from smspay_app.services.exports import neutralise

CAP_REASON = "sending.paused.usage_cap"


def month_of(timezone: str, at: datetime) -> tuple[int, int]:
    """The (year, month) of naive-UTC ``at`` in ``timezone``."""
    local = at.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return local.year, local.month


def month_range(timezone: str, year: int, month: int) -> tuple[datetime, datetime]:
    """Naive-UTC [start, end) of a calendar month in ``timezone``."""
    zone = ZoneInfo(timezone)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class UsageRow:
    provider: str
    campaign_id: int
    campaign_name: str
    messages: int
    segments: int


@dataclass(frozen=True)
class MonthUsage:
    organisation_id: int
    organisation_name: str
    year: int
    month: int
    rows: list[UsageRow]
    monthly_sms_cap: int

    @property
    def messages(self) -> int:
        return sum(r.messages for r in self.rows)

    @property
    def segments(self) -> int:
        return sum(r.segments for r in self.rows)

    def by_provider(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for r in self.rows:
            m, s = out.get(r.provider, (0, 0))
            out[r.provider] = (m + r.messages, s + r.segments)
        return out


def _month_rows(session: Session, org: Organisation, year: int, month: int) -> list[UsageRow]:
    start, end = month_range(org.timezone, year, month)
    rows = session.exec(
        select(
            SendAttempt.provider,
            SendAttempt.campaign_id,
            Campaign.name,
            func.count(),
            func.coalesce(func.sum(SendAttempt.segments), 0),
        )
        .join(Campaign, Campaign.id == SendAttempt.campaign_id)
        .where(
            SendAttempt.organisation_id == org.id,
            SendAttempt.accepted_at.is_not(None),
            SendAttempt.accepted_at >= start,
            SendAttempt.accepted_at < end,
        )
        .group_by(SendAttempt.provider, SendAttempt.campaign_id, Campaign.name)
        .order_by(SendAttempt.provider, SendAttempt.campaign_id)
    ).all()
    return [UsageRow(p or "", c, n, int(m), int(s)) for p, c, n, m, s in rows]


def month_usage(
    session: Session, caller: Caller, organisation_id: int, year: int | None = None, month: int | None = None
) -> MonthUsage:
    """One organisation's month (default: the current one). Its own admins or
    the installation owner; anyone else: ``NotAllowed``."""
    own = caller.organisation_id == organisation_id and caller.can("usage.view")
    if not own and not caller.can("installation.manage"):
        raise NotAllowed("usage.view")
    org = session.get(Organisation, organisation_id)
    if org is None:
        raise NotAllowed("usage.view")
    if year is None or month is None:
        year, month = month_of(org.timezone, utcnow())
    if not (2000 <= year <= 9999 and 1 <= month <= 12):
        raise NotAllowed("usage.view")
    return MonthUsage(org.id, org.name, year, month, _month_rows(session, org, year, month), org.monthly_sms_cap)


CSV_COLUMNS = ("organisation", "month", "provider", "campaign_id", "campaign", "messages", "segments")


def csv_header(lang: str) -> list[str]:
    """The usage CSV's column names in ``lang`` (catalog ``usage.col.*``)."""
    return [t(f"usage.col.{column}", lang) for column in CSV_COLUMNS]


def provider_label(provider: str, lang: str) -> str:
    """An SMS provider as people read it (``SMSシミュレーター（Twilio互換）``),
    the stored name when the catalog does not know it."""
    key = f"connections.provider.{provider}"
    return t(key, lang) if key in CATALOG else provider


def to_csv(usages: Iterable[MonthUsage], lang: str = "ja") -> str:
    """CSV (UTF-8 with BOM, CRLF), one line per organisation, month, provider
    and campaign; cells neutralised against spreadsheet formulas."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(csv_header(lang))
    for usage in usages:
        for r in usage.rows:
            writer.writerow(
                [
                    neutralise(usage.organisation_name),
                    f"{usage.year:04d}-{usage.month:02d}",
                    neutralise(provider_label(r.provider, lang)),
                    r.campaign_id,
                    neutralise(r.campaign_name),
                    r.messages,
                    r.segments,
                ]
            )
    return out.getvalue()


# ----------------------------------------------------------------- the dispatcher's gate


def used_this_month(session: Session, org: Organisation, now: datetime) -> int:
    """SMS counted against the cap: accepted this month, plus in flight."""
    start, end = month_range(org.timezone, *month_of(org.timezone, now))
    accepted = session.exec(
        select(func.count())
        .select_from(SendAttempt)
        .where(SendAttempt.organisation_id == org.id, SendAttempt.accepted_at >= start, SendAttempt.accepted_at < end)
    ).one()
    in_flight = session.exec(
        select(func.count())
        .select_from(SendAttempt)
        .where(
            SendAttempt.organisation_id == org.id,
            SendAttempt.status == AttemptStatus.SENDING,
            SendAttempt.accepted_at.is_(None),
        )
    ).one()
    return int(accepted) + int(in_flight)


@dataclass
class ClaimGate:
    """What this claim cycle may take: ``blocked`` organisations get nothing,
    ``allowance[org]`` caps how many attempts of a capped organisation."""

    blocked: set[int] = field(default_factory=set)
    allowance: dict[int, int] = field(default_factory=dict)

    def conditions(self) -> list:
        return [SendAttempt.organisation_id.not_in(self.blocked)] if self.blocked else []

    def trim(self, rows: Iterable[tuple[int, int]]) -> list[int]:
        """Candidate ``(attempt id, organisation id)`` rows, in claim order ->
        the attempt ids this cycle may claim."""
        left = dict(self.allowance)
        ids: list[int] = []
        for attempt_id, org_id in rows:
            if org_id in self.blocked:
                continue
            if org_id in left:
                if left[org_id] <= 0:
                    continue
                left[org_id] -= 1
            ids.append(attempt_id)
        return ids


def claim_gate(session: Session, now: datetime | None = None) -> ClaimGate:
    """The per-cycle check (suspension, deletion, monthly cap); pauses the
    sending campaigns of an organisation that has reached its cap."""
    now = now or utcnow()
    gate = ClaimGate()
    gate.blocked.update(
        session.exec(
            select(Organisation.id).where(Organisation.status != "active", Organisation.kind != "installation")
        )
    )
    capped_where = (Organisation.status == "active", Organisation.monthly_sms_cap > 0)
    capped_query = select(Organisation).where(*capped_where).order_by(Organisation.id)
    # Claims of a capped organisation take turns (the lock lasts until the
    # claim commits), so two workers never both spend the last SMS: what was
    # used must be read under the lock, never before it.
    if session.get_bind().dialect.name == "postgresql":
        capped_query = capped_query.with_for_update()
    else:
        # SQLite has no SELECT ... FOR UPDATE, and the driver runs a SELECT
        # outside any transaction, each on its own snapshot: two workers both
        # read "5 of 7 used" and both claimed 2 (9 sent, seen in CI). A no-op
        # UPDATE takes the database's write lock first (as
        # ``sending.lock_attempts`` does), so the reads below are current.
        session.exec(update(Organisation).where(*capped_where).values(id=Organisation.id))
    capped = session.exec(capped_query).all()
    for org in capped:
        left = org.monthly_sms_cap - used_this_month(session, org, now)
        if left > 0:
            gate.allowance[org.id] = left
            continue
        gate.blocked.add(org.id)
        waiting = session.exec(
            select(Campaign).where(
                Campaign.organisation_id == org.id,
                Campaign.status == CampaignStatus.SENDING,
                select(SendAttempt.id)
                .where(SendAttempt.campaign_id == Campaign.id, SendAttempt.status == AttemptStatus.QUEUED)
                .exists(),
            )
        ).all()
        for campaign in waiting:
            sending.pause(session, campaign, reason=CAP_REASON)
    return gate
