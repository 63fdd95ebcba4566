"""Maintained funnel counters per campaign (``CampaignStats``).

The recipients' first-step timestamps are the truth; ``counts_sql`` is the
COUNT over them. At a million recipients that scan takes ~300 ms on SQLite, too
slow for a dashboard polled every second, so each campaign keeps a counter row
updated **in the same transaction** as the recipient change:

- every ORM write of a ``Recipient`` (``funnel.apply_step`` through
  ``timeline.record``, ``sending.apply_provider_status``, payments, opt-outs,
  support actions: whatever path) is seen by one ``before_flush`` hook, which
  compares the row as stored (read under the write lock: SQLite's write
  transaction is opened first, PostgreSQL reads ``FOR UPDATE``) with the row
  after the change, and adds the difference of the derived flags;
- bulk inserts that bypass the ORM (the CSV import) call ``add_inserted``.

The hooks are registered by ``install_counters``, which ``db.engine_for``
calls when it creates an engine (not on import).

A flag flips once per recipient (timestamps are only ever set or moved
earlier), so each step is counted the first time it is reached, however often
or in whatever order the events arrive. ``rebuild`` re-derives a row from the
recipients; a test proves counters equal ``counts_sql`` after random event
sequences."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, event, func, inspect, select, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session
from sqlmodel import select as select_models

from smspay_app.domain.funnel import DASHBOARD_FUNNEL
from smspay_app.models.recipient import Recipient
from smspay_app.models.stats import CampaignStats, CampaignStatsHour

COUNTERS = (*DASHBOARD_FUNNEL, "recipients", "failed", "paid_yen", "total_yen")
# Recipient columns the counters derive from.
SOURCE_COLUMNS = (
    "amount_yen",
    "partial_paid_yen",
    "sent_at",
    "delivered_at",
    "clicked_at",
    "verified_at",
    "paid_at",
    "failed_at",
)
# A later step proves the earlier ones (a click proves delivery).
_PROOF = {
    "sent": ("sent_at", "delivered_at", "clicked_at", "verified_at", "paid_at"),
    "delivered": ("delivered_at", "clicked_at", "verified_at", "paid_at"),
    "clicked": ("clicked_at", "verified_at", "paid_at"),
    "verified": ("verified_at", "paid_at"),
    "paid": ("paid_at",),
}
assert tuple(_PROOF) == DASHBOARD_FUNNEL


def flags(row: Mapping[str, Any]) -> dict[str, int]:
    """What one recipient adds to its campaign's counters."""
    out = {step: int(any(row.get(c) is not None for c in cols)) for step, cols in _PROOF.items()}
    amount = int(row.get("amount_yen") or 0)
    out["recipients"] = 1
    out["failed"] = int(row.get("failed_at") is not None)
    # What was recorded: the whole amount once paid, else the partial payments (issue 18 item 11).
    out["paid_yen"] = amount if row.get("paid_at") is not None else min(amount, int(row.get("partial_paid_yen") or 0))
    out["total_yen"] = amount
    return out


# Series kept per UTC hour: name -> recipient column.
SERIES = {"clicks": "clicked_at", "payments": "paid_at"}


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


# ------------------------------------------------------------------ truth


def _count_columns():
    r = Recipient

    def proof(cols):
        return func.coalesce(*(getattr(r, c) for c in cols)) if len(cols) > 1 else getattr(r, cols[0])

    return [func.count(proof(cols)).label(step) for step, cols in _PROOF.items()] + [
        func.count().label("recipients"),
        func.count(r.failed_at).label("failed"),
        func.coalesce(
            func.sum(
                case(
                    (r.paid_at.is_not(None), r.amount_yen),
                    (r.partial_paid_yen < r.amount_yen, r.partial_paid_yen),
                    else_=r.amount_yen,
                )
            ),
            0,
        ).label("paid_yen"),
        func.coalesce(func.sum(r.amount_yen), 0).label("total_yen"),
    ]


def counts_sql(session: Session, campaign_id: int) -> dict[str, int]:
    """The counters computed from the recipients (a full COUNT: the truth)."""
    row = session.exec(select(*_count_columns()).where(Recipient.campaign_id == campaign_id)).one()
    return {k: int(v or 0) for k, v in row._mapping.items()}


def hour_rows_sql(dialect: str, campaign_id: int, organisation_id: int):
    """INSERT ... SELECT of the campaign's hourly rows from its recipients (the
    hour as the ORM stores a datetime, so later upserts meet the same key)."""
    cid, oid = int(campaign_id), int(organisation_id)
    if dialect == "postgresql":
        hour = "date_trunc('hour', {c})"
    else:
        hour = "strftime('%Y-%m-%d %H:00:00.000000', {c})"
    parts = " UNION ALL ".join(
        f"SELECT {hour.format(c=col)} AS h, {int(name == 'clicks')} AS c, {int(name == 'payments')} AS p "
        f"FROM recipient WHERE campaign_id = {cid} AND {col} IS NOT NULL"
        for name, col in SERIES.items()
    )
    return text(
        "INSERT INTO campaignstatshour (campaign_id, hour, organisation_id, clicks, payments) "
        f"SELECT {cid}, h, {oid}, SUM(c), SUM(p) FROM ({parts}) AS x GROUP BY h"
    )


def hours_for(session: Session, campaign_id: int, since: datetime) -> list[tuple[datetime, int, int]]:
    """(UTC hour, clicks, payments) of the campaign from ``since`` on."""
    h = CampaignStatsHour
    return [
        (row.hour, int(row.clicks), int(row.payments))
        for row in session.exec(
            select_models(h).where(h.campaign_id == campaign_id, h.hour >= hour_of(since)).order_by(h.hour)
        )
    ]


def hours_sql(session: Session, campaign_id: int) -> dict[datetime, tuple[int, int]]:
    """The hourly series computed from the recipients (the truth, for tests)."""
    out: dict[datetime, list[int]] = {}
    for i, col in enumerate(SERIES.values()):
        for (at,) in session.exec(
            select(getattr(Recipient, col)).where(
                Recipient.campaign_id == campaign_id, getattr(Recipient, col).is_not(None)
            )
        ):
            out.setdefault(hour_of(at), [0, 0])[i] += 1
    return {k: tuple(v) for k, v in out.items()}


def rebuild(session: Session, campaign_id: int, organisation_id: int) -> dict[str, int]:
    """Re-derive the campaign's counter rows from its recipients (repair tool)."""
    session.exec(delete(CampaignStatsHour).where(CampaignStatsHour.campaign_id == campaign_id))
    session.exec(hour_rows_sql(session.get_bind().dialect.name, campaign_id, organisation_id))
    counts = counts_sql(session, campaign_id)
    row = session.get(CampaignStats, campaign_id)
    if row is None:
        row = CampaignStats(campaign_id=campaign_id, organisation_id=organisation_id)
    for k, v in counts.items():
        setattr(row, k, v)
    session.add(row)
    session.flush()
    return counts


# ------------------------------------------------------------------ reads


def counts_for(session: Session, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Counter rows by campaign id (zeros for a campaign with no recipient yet)."""
    ids = list(campaign_ids)
    out = {cid: dict.fromkeys(COUNTERS, 0) for cid in ids}
    if not ids:
        return out
    for row in session.exec(select_models(CampaignStats).where(CampaignStats.campaign_id.in_(ids))):
        out[row.campaign_id] = {k: int(getattr(row, k)) for k in COUNTERS}
    return out


# ------------------------------------------------------------------ writes


def _upsert(connection, campaign_id: int, organisation_id: int, delta: Mapping[str, int]) -> None:
    """Add ``delta`` to the campaign's row (created on first use), in one
    statement that is atomic under concurrency on SQLite and PostgreSQL."""
    table = CampaignStats.__table__
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = {k: int(delta.get(k, 0)) for k in COUNTERS}
    stmt = insert(table).values(campaign_id=campaign_id, organisation_id=organisation_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.campaign_id],
        set_={k: table.c[k] + stmt.excluded[k] for k in COUNTERS},
    )
    connection.execute(stmt)


def _upsert_hour(connection, campaign_id: int, organisation_id: int, hour: datetime, delta: Mapping[str, int]) -> None:
    table = CampaignStatsHour.__table__
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    values = {k: int(delta.get(k, 0)) for k in SERIES}
    stmt = insert(table).values(campaign_id=campaign_id, hour=hour, organisation_id=organisation_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.campaign_id, table.c.hour],
        set_={k: table.c[k] + stmt.excluded[k] for k in SERIES},
    )
    connection.execute(stmt)


def add_inserted(session: Session, campaign_id: int, organisation_id: int, count: int, total_yen: int) -> None:
    """Bulk-inserted recipients with no funnel step yet (the CSV import)."""
    if count:
        _upsert(session.connection(), campaign_id, organisation_id, {"recipients": count, "total_yen": total_yen})


def _changed_columns(obj: Recipient) -> dict[str, Any]:
    state = inspect(obj)
    changed = {}
    for name in SOURCE_COLUMNS:
        history = state.attrs[name].history
        if history.added:
            changed[name] = history.added[0]
    return changed


def _values(obj: Recipient) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in SOURCE_COLUMNS}


_PENDING = "smspay_stats_pending"


def _delta() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def _add(deltas: dict, key: tuple[int, int], values: Mapping[str, Any], sign: int) -> None:
    delta = deltas.setdefault(key, _delta())
    for k, v in flags(values).items():
        delta[k] += sign * v
    for name, col in SERIES.items():
        at = values.get(col)
        if at is not None:
            hour = deltas.setdefault(("hour", *key, hour_of(at)), dict.fromkeys(SERIES, 0))
            hour[name] += sign


def _before_flush(session: OrmSession, _flush_context, _instances) -> None:
    """Changed and deleted recipients: read their stored rows before the flush
    writes over them, and note the difference of the flags."""
    dirty = [(o, c) for o in session.dirty if isinstance(o, Recipient) and (c := _changed_columns(o))]
    deleted = [o for o in session.deleted if isinstance(o, Recipient) and o.id is not None]
    if not (dirty or deleted):
        return
    connection = session.connection()
    keys = {(o.campaign_id, o.organisation_id) for o, _ in dirty} | {
        (o.campaign_id, o.organisation_id) for o in deleted
    }
    if connection.dialect.name == "sqlite":
        # Take SQLite's write lock before reading the stored rows, so no other
        # writer can change them between this read and our flush.
        for cid, oid in sorted(keys):
            _upsert(connection, cid, oid, {})
    t = Recipient.__table__
    query = select(t.c.id, *(t.c[n] for n in SOURCE_COLUMNS)).where(
        t.c.id.in_([o.id for o, _ in dirty] + [o.id for o in deleted])
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    stored = {row.id: dict(row._mapping) for row in connection.execute(query)}
    deltas = session.info.setdefault(_PENDING, {})
    for o, changed in dirty:
        before = stored.get(o.id)
        if before is not None:
            key = (o.campaign_id, o.organisation_id)
            _add(deltas, key, before, -1)
            _add(deltas, key, {**before, **changed}, +1)
    for o in deleted:
        before = stored.get(o.id)
        if before is not None:
            _add(deltas, (o.campaign_id, o.organisation_id), before, -1)


def _after_flush(session: OrmSession, _flush_context) -> None:
    """New recipients (now with their campaign flushed too), then write every
    pending difference into the counter rows, in the flush's transaction."""
    deltas = session.info.pop(_PENDING, {})
    for o in session.new:
        if isinstance(o, Recipient):
            _add(deltas, (o.campaign_id, o.organisation_id), _values(o), +1)
    if not deltas:
        return
    connection = session.connection()
    for key, delta in sorted(deltas.items(), key=lambda kv: (len(kv[0]), str(kv[0]))):
        if not any(delta.values()):
            continue
        if key[0] == "hour":
            _upsert_hour(connection, key[1], key[2], key[3], delta)
        else:
            _upsert(connection, key[0], key[1], delta)


def _after_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)


# ------------------------------------------------------------------ hooks

_HOOKS = (("before_flush", _before_flush), ("after_flush", _after_flush), ("after_rollback", _after_rollback))
_install_lock = threading.Lock()


def install_counters() -> None:
    """Register the counter hooks on every ORM session (idempotent).

    Called by ``db.engine_for`` when it makes an engine, so the app, the
    workers, scripts and tests (every session goes through an engine made
    there) keep the counters without relying on an import's side effect."""
    with _install_lock:
        for name, fn in _HOOKS:
            if not event.contains(OrmSession, name, fn):
                event.listen(OrmSession, name, fn)


def counters_installed() -> bool:
    """Whether ``install_counters`` has run in this process."""
    return all(event.contains(OrmSession, name, fn) for name, fn in _HOOKS)
