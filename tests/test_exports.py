"""Recipient export: formula neutralisation, Excel-readable encodings (UTF-8
with BOM, CP932), every step's timestamp in local time, streamed over real
HTTP with the admin session cookie and role checks."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from smspay_app.models import Recipient
from smspay_app.services import exports
from tests.factories import make_caller, make_campaign, make_org, sign_in_token


def test_neutralise_every_dangerous_start():
    for bad in ("=1+2", "+81", "-3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'):
        assert exports.neutralise(bad) == "'" + bad
    for ok in ("山田", "090-1234-5678", "1200", "", "a=b"):
        assert exports.neutralise(ok) == ok
    assert exports.neutralise(None) == ""


def _data(session):
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=3, status="sending")
    rs = session.query(Recipient).order_by(Recipient.id).all()
    rs[0].name = '=HYPERLINK("http://evil","x")'
    rs[1].name = "髙橋 﨑子"  # CP932 (NEC/IBM extensions) characters
    rs[1].external_ref = "@cmd"
    rs[2].name = "絵文字😀"
    rs[0].sent_at = datetime(2030, 4, 1, 0, 30)  # 09:30 JST
    rs[0].delivered_at = datetime(2030, 4, 1, 0, 31)
    rs[0].amount_yen = -5
    session.add_all(rs)
    session.commit()
    return org, campaign


def _rows(data: bytes, codec: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(codec), newline="")))


def test_utf8_with_bom_and_cp932_are_readable_and_neutralised(session):
    org, campaign = _data(session)
    rows = exports.iter_rows(session, campaign.id, org.timezone, "ja")
    data = b"".join(exports.encode_csv(rows, "utf-8-sig"))
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    table = _rows(data, "utf-8-sig")
    head, first, second, third = table
    assert head[:3] == ["行番号", "電話番号", "氏名"] and "送信日時" in head and "支払日時" in head
    assert first[2] == '\'=HYPERLINK("http://evil","x")' and first[1] == "090-1000-0000"
    assert first[4] == "'-5"
    assert first[head.index("送信日時")] == "2030-04-01 09:30:00"
    assert first[head.index("到達日時")] == "2030-04-01 09:31:00"
    assert second[3] == "'@cmd" and third[2] == "絵文字😀"

    cp = b"".join(exports.encode_csv(exports.iter_rows(session, campaign.id, org.timezone, "en"), "cp932"))
    assert not cp.startswith(b"\xef\xbb\xbf")
    table = _rows(cp, "cp932")
    assert table[0][:3] == ["Row", "Phone", "Name"]
    assert table[2][2] == "髙橋 﨑子" and table[3][2] == "絵文字?"


def test_http_export_requires_session_role_and_organisation(live_server, session):
    org, campaign = _data(session)
    operator = make_caller(session, org, "operator")
    support = make_caller(session, org, "support")
    other = make_caller(session, make_org(session, "他社"), "admin", "o@example.com")
    url = f"/admin/exports/campaigns/{campaign.id}.csv"
    with live_server.client() as c:
        assert c.get(url).status_code == 401
        c.cookies.set("smspay_session", sign_in_token(session, support.email))
        assert c.get(url).status_code == 403
    with live_server.client() as c:
        c.cookies.set("smspay_session", sign_in_token(session, other.email))
        assert c.get(url).status_code == 404
    with live_server.client() as c:
        c.cookies.set("smspay_session", sign_in_token(session, operator.email))
        assert c.get(url + "?encoding=latin-1").status_code == 400
        res = c.get(url)
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
        assert "attachment" in res.headers["content-disposition"]
        assert res.content.startswith(b"\xef\xbb\xbf") and len(_rows(res.content, "utf-8-sig")) == 4
        res = c.get(url + "?encoding=cp932&lang=en")
        assert _rows(res.content, "cp932")[0][0] == "Row"


def test_export_streams_in_batches(session, monkeypatch):
    monkeypatch.setattr(exports, "BATCH", 7)
    org = make_org(session)
    campaign = make_campaign(session, org, recipients=40)
    chunks = list(
        exports.encode_csv(exports.iter_rows(session, campaign.id, org.timezone, "ja"), "utf-8-sig", chunk_rows=10)
    )
    assert len(chunks) >= 5  # BOM + several row chunks, not one blob
    assert len(_rows(b"".join(chunks), "utf-8-sig")) == 41


@pytest.mark.parametrize(
    "zone, start",
    [
        ("Asia/Tokyo", datetime(2030, 3, 31, 0, 0)),
        ("America/New_York", datetime(2030, 3, 10, 5, 0)),  # spring forward at 07:00 UTC
        ("America/New_York", datetime(2030, 11, 3, 4, 0)),  # fall back at 06:00 UTC
        ("Australia/Lord_Howe", datetime(2030, 4, 6, 13, 0)),  # +11 -> +10:30 at 15:00 UTC
        ("Asia/Kathmandu", datetime(2030, 1, 1, 0, 0)),  # +05:45
        ("Africa/Monrovia", datetime(1972, 1, 6, 22, 0)),  # -00:44:30 -> 00:00 at 00:44:30 UTC
    ],
)
def test_local_time_formatter_matches_a_full_conversion_across_transitions(zone, start):
    """The export's per-hour offset cache gives exactly the full conversion,
    minute by minute over six hours around a change of offset (and seconds
    off the minute), in any order."""
    from smspay_app.domain.formatting import local_time, local_time_formatter

    fmt, stored_fmt = local_time_formatter(zone), local_time_formatter(zone)
    times = [start + timedelta(minutes=m, seconds=m % 60, microseconds=999_999 * (m % 2)) for m in range(0, 360)]
    for at in [*times, *reversed(times)]:
        assert fmt(at) == local_time(at, zone, seconds=True), at
        # the text SQLite stores (read without parsing by the export), with and without microseconds
        assert stored_fmt(at.isoformat(" ", "microseconds")) == local_time(at, zone, seconds=True), at
        assert stored_fmt(at.isoformat(" ", "seconds")) == local_time(at, zone, seconds=True), at
    assert fmt(None) == "" and stored_fmt(None) == ""
