"""The faster paths of issue 16 give exactly what the slower ones gave: the
import's merge_data JSON (json.dumps), the export's phone column
(phonenumbers), and the import leaves the SQLite connection's page cache as
it found it."""

from __future__ import annotations

import json
import random

from smspay_app.domain import formatting
from smspay_app.domain.phone import display_phone
from smspay_app.services import imports


def test_merge_data_is_exactly_what_json_dumps_wrote():
    rnd = random.Random(16)
    headers = [
        "顧客番号",
        "氏名",
        "name",
        "amount",
        "備考",
        'a"b',
        "x\\y",
        "due_date",
        "customer_number",
        "改\n",
        "\u2028",
    ]
    cells = ["", "山田", "1,000円", '"q"', "\x01", "😀", "\\", "\t"]
    for _ in range(2000):
        row_headers = [rnd.choice(headers) for _ in range(rnd.randint(0, 8))]  # repeated ones too
        merge_headers = [(i, h) for i, h in enumerate(row_headers) if rnd.random() < 0.8]
        row = [rnd.choice(cells) for _ in row_headers]
        canonical = tuple(rnd.choice(["", "x", "2025-06-30", "山"]) for _ in imports.MERGE_CANONICAL)
        merge = {h: row[i] for i, h in merge_headers}
        merge.update(zip(imports.MERGE_CANONICAL, canonical))
        assert imports._merge_encoder(merge_headers)(row, canonical) == json.dumps(merge, ensure_ascii=False)


def test_the_fast_phone_format_is_what_phonenumbers_formats():
    """``formatting.phone`` (the one formatter, used by exports) reads Japanese
    mobiles without phonenumbers: the same text."""
    rnd = random.Random(16)
    numbers = ["+819012345678", "+818004135363", "+817012345678", "+81312345678", "+15551234567", "+819012345"]
    numbers += [f"+81{rnd.choice('789')}0{rnd.randint(0, 99_999_999):08d}" for _ in range(3000)]
    for e164 in numbers:
        assert formatting.phone(e164) == (display_phone(e164) if e164.startswith("+81") else e164), e164


def test_the_import_restores_the_connections_page_cache(session):
    from tests.factories import make_campaign, make_org

    campaign = make_campaign(session, make_org(session), recipients=0, status="draft")
    session.commit()
    raw = session.connection().connection.driver_connection
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    report = imports.import_recipients_csv(session, campaign, "電話番号,氏名,金額\n090-1234-5678,山田,1000\n".encode())
    assert report.status == "done" and report.imported_rows == 1
    raw = session.connection().connection.driver_connection
    assert raw.execute("PRAGMA cache_size").fetchone()[0] == before
