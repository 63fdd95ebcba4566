"""Every export in the language it is asked for (issue 15: one vocabulary,
used by every export too): each column header is a catalog label in that
language, worded values (a recipient's state, the SMS provider) are the
catalog's words, and nothing in a Japanese export is a raw key or English;
the phone as people read it, and last the machine column in E.164."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from sqlmodel import select

from smspay_app.domain import funnel
from smspay_app.i18n import CATALOG, t
from smspay_app.models import Recipient, SendAttempt
from smspay_app.services import exports, sending, usage
from smspay_app.services.imports import errors_csv, import_recipients_csv
from tests.factories import make_admin, make_campaign, make_org

RAW_KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
ENGLISH = re.compile(r"[a-z]{2,}")  # a word or a key (acronyms such as SMS are Japanese usage)


def _table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _labels(lang: str, prefix: str) -> set[str]:
    return {texts[lang] for key, texts in CATALOG.items() if key.startswith(prefix)}


def test_the_recipient_export_speaks_the_language_asked_for(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=len(funnel.SHOWN_STATES) - 1, status="sending")
    rs = session.exec(select(Recipient).where(Recipient.campaign_id == campaign.id).order_by(Recipient.id)).all()
    states = [s for s in funnel.SHOWN_STATES if s != funnel.PAYMENT_PENDING]
    for r, state in zip(rs, states, strict=True):
        r.status = state
        setattr(r, f"{state}_at", datetime(2030, 4, 1, 0, 30)) if state in funnel.TIMESTAMPED else None
    session.add_all(rs)
    session.commit()
    for lang in ("ja", "en"):
        table = _table(
            b"".join(exports.encode_csv(exports.iter_rows(session, campaign.id, org.timezone, lang), "utf-8-sig"))
        )
        head, rows = table[0], table[1:]
        assert head == exports.header(lang)
        assert all(not RAW_KEY.match(cell) for cell in head), head
        status = head.index(t("ops.export.col.status", lang))
        assert [row[status] for row in rows] == [t(f"rstatus.{s}", lang) for s in states]
        assert head[-1] == t("ops.export.col.phone_e164", lang)
        assert rows[0][head.index(t("ops.export.col.phone", lang))].startswith("090-")
        assert rows[0][-1] == rs[0].phone_e164 and rows[0][-1].startswith("+81")  # machine column, not neutralised
        if lang == "ja":
            assert not [cell for cell in head if ENGLISH.search(cell)], head
            assert not [row[status] for row in rows if ENGLISH.search(row[status])]


def test_the_usage_export_speaks_the_language_asked_for(session):
    org = make_org(session)
    admin = make_admin(session, org)
    campaign = make_campaign(session, org, recipients=1)
    sending.start_sending(session, campaign)
    attempt = session.exec(select(SendAttempt).where(SendAttempt.campaign_id == campaign.id)).one()
    attempt.status, attempt.accepted_at, attempt.segments, attempt.provider = (
        "accepted",
        datetime(2030, 4, 1),
        1,
        "simulator",
    )
    session.add(attempt)
    session.commit()
    april = usage.month_usage(session, admin, org.id, 2030, 4)
    ja = _table(usage.to_csv([april], "ja").encode())
    assert ja[0] == ["組織", "年月", "SMS事業者", "キャンペーンID", "キャンペーン", "通数", "セグメント数"]
    assert ja[1][2] == t("connections.provider.simulator", "ja") == "SMSシミュレーター（Twilio互換）"
    en = _table(usage.to_csv([april], "en").encode())
    assert en[0] == ["Organisation", "Month", "SMS provider", "Campaign ID", "Campaign", "Messages", "Segments"]
    assert en[1][2] == t("connections.provider.simulator", "en")
    for lang, table in (("ja", ja), ("en", en)):
        assert all(not RAW_KEY.match(cell) for cell in table[0]) and "simulator" not in table[1]
        assert set(table[0]) <= _labels(lang, "usage.col.")


def test_the_import_error_export_speaks_the_language_asked_for(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=0)
    report = import_recipients_csv(
        session, campaign, "電話番号,氏名\n03-1234-5678,山田\n".encode(), mapping={"phone": "電話番号"}
    )
    ja, en = _table(errors_csv(report, "ja")), _table(errors_csv(report, "en"))
    assert ja[0] == [t(f"import.errors_header_{c}", "ja") for c in ("row", "column", "reason")]
    assert not [cell for cell in ja[0] + [ja[1][2]] if ENGLISH.search(cell)]
    assert en[0] == ["Row", "Column", "Reason"] and "Landline" in en[1][2]
