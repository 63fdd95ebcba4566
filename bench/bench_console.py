"""Admin console speed with real data volumes (issue 16, item 5): the
production build (``reflex run --env prod``, as tests/e2e start it) on a
SQLite database holding 100,000 recipients in 20 campaigns of the demo
organisation (statuses spread over the funnel, the dashboard's counters
rebuilt from them), driven by headless Chromium through Playwright:

- client-side navigation between every admin page (a click on the top bar's
  link until the page's own content, with its data, is shown), ``--rounds``
  rounds over all of them;
- opening a campaign from the list (until its title is shown);
- searching a recipient by the last four digits of a phone number (until the
  result is listed);
- the dashboard's first paint on a full load (the browser's
  ``first-contentful-paint``) and until its overview shows the campaigns.

Printed: p50 / p95 / max per figure in ms, PASS/FAIL against the target
(p95 <= 300 ms), and the server's CPU per navigation (the ``reflex`` process
tree's own counters over the navigations). Baseline in the same run: a full
reload of the same page (the browser's ``load`` event plus the same content).

    python bench/bench_console.py [--recipients 100000] [--campaigns 20] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import pct, tree_cpu_seconds, verdict  # noqa: E402

TARGET_P95_MS = 300.0
PASSWORD = "smspay-demo"

# route -> (the page's own content, shown once its data is there)
PAGES: dict[str, str] = {
    "/dashboard": "#dash-overview >> text=コンソール速度",
    "/campaigns": "text=コンソール速度 19",
    "/recipients": "#recipients-search-table",
    "/replies": "#replies-campaign-filter",
    "/opt-outs": "#optout-phone",
    "/settings": "#settings-save",
    "/developers": "#create-key",
    "/usage": "#usage-month",
}
FUNNEL = ("queued", "sent", "delivered", "clicked", "verified", "paid")
STATUSES = (*FUNNEL, "failed", "expired")


def seed(db_url: str, recipients: int, campaigns: int) -> None:
    """Campaigns and recipients of the demo organisation, inserted in bulk;
    the dashboard's counters rebuilt as the app keeps them."""
    from sqlalchemy import insert
    from sqlmodel import Session, select

    from smspay_app.db import engine_for
    from smspay_app.models import Campaign, Organisation, Recipient
    from smspay_app.services import stats

    rng = random.Random(16)
    t0 = datetime(2030, 4, 1, 0, 0)
    with Session(engine_for(db_url)) as s:
        org = s.exec(select(Organisation).order_by(Organisation.id)).first()
        assert org is not None, "the demo organisation"
        per = recipients // campaigns
        for c in range(campaigns):
            camp = Campaign(organisation_id=org.id, name=f"コンソール速度 {c}", status="sending", amount_yen=3300)
            s.add(camp)
            s.flush()
            rows = []
            for i in range(per):
                n = c * per + i
                status = STATUSES[rng.randrange(len(STATUSES))]
                at = t0 + timedelta(seconds=n)
                row = {
                    "campaign_id": camp.id,
                    "organisation_id": org.id,
                    "phone_e164": f"+8190{20000000 + n:08d}",
                    "name": f"顧客{n}",
                    "merge_data": json.dumps({"name": f"顧客{n}"}, ensure_ascii=False),
                    "amount_yen": 3300,
                    "row_number": i + 1,
                    "status": status,
                }
                # every step up to the status has its time, as the funnel records them
                reached = FUNNEL[: FUNNEL.index(status) + 1] if status in FUNNEL else ("queued", "sent")
                row.update({f"{step}_at": at for step in reached})
                if status not in FUNNEL:
                    row[f"{status}_at"] = at
                rows.append(row)
            s.execute(insert(Recipient), rows)
            stats.rebuild(s, camp.id, org.id)
        s.commit()


def settle(page) -> None:
    """After a full load: give the page time to hydrate and open its websocket
    (a click before that is lost, not slow), as a person's first click is."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)


def timed(page, action, ready: str, timeout: float = 30_000) -> float:
    """Milliseconds from ``action`` until ``ready`` is visible; on a timeout
    the page is kept (test-artifacts/bench-console-timeout.png) and said."""
    start = time.perf_counter()
    action()
    try:
        page.locator(ready).first.wait_for(state="visible", timeout=timeout)
    except Exception:
        shot = ROOT / "test-artifacts" / "bench-console-timeout.png"
        shot.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
        print(f"timed out waiting for {ready!r} at {page.url}; screenshot {shot}", file=sys.stderr)
        raise
    return (time.perf_counter() - start) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--campaigns", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, _browser_executable, running_app
    from tests.e2e.helpers import sign_in

    with tempfile.TemporaryDirectory(prefix="smspay-bench-console-") as tmp:
        with running_app(Path(tmp), "bench-console-server.log") as server:
            t_seed = time.perf_counter()
            seed(server.db_url, args.recipients, args.campaigns)
            print(
                f"seeded {args.recipients:,} recipients in {args.campaigns} campaigns "
                f"in {time.perf_counter() - t_seed:.1f} s; server {server.base_url}"
            )
            base = server.base_url
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=_browser_executable(), args=CHROMIUM_ARGS, headless=True)
                context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
                page = context.new_page()
                sign_in(page, base, "admin@example.com", PASSWORD)
                for route in PAGES:  # warm: every page's code loaded once
                    page.goto(base + route)
                    page.locator(PAGES[route]).first.wait_for(state="visible", timeout=60_000)
                settle(page)

                navigation: dict[str, list[float]] = {route: [] for route in PAGES}
                reload_ms: dict[str, list[float]] = {route: [] for route in PAGES}
                routes = list(PAGES)
                cpu0, n_nav = tree_cpu_seconds(server.pid), 0
                for _ in range(args.rounds):
                    for route in routes:
                        link = page.locator(f'a[href="{route}"]').first
                        navigation[route].append(timed(page, link.click, PAGES[route]))
                        n_nav += 1
                server_ms = (tree_cpu_seconds(server.pid) - cpu0) / max(n_nav, 1) * 1000
                for _ in range(max(3, args.rounds // 2)):
                    for route in routes:
                        page.locator(f'a[href="{route}"]').first.click()
                        page.locator(PAGES[route]).first.wait_for(state="visible", timeout=30_000)
                        reload_ms[route].append(timed(page, page.reload, PAGES[route]))
                        settle(page)

                # opening a campaign from the list, and a search
                opened, searched = [], []
                for k in range(args.rounds):
                    page.locator('a[href="/campaigns"]').first.click()
                    name = f"コンソール速度 {k % args.campaigns}"
                    page.locator(f"text={name}").first.wait_for(state="visible", timeout=30_000)
                    opened.append(
                        timed(
                            page,
                            lambda name=name: page.locator(f"text={name}").first.click(),
                            f"#campaign-title >> text={name}",
                        )
                    )
                page.locator('a[href="/recipients"]').first.click()
                page.locator("#recipient-search").wait_for(state="visible", timeout=30_000)
                for k in range(args.rounds):
                    n = random.Random(k).randrange(args.recipients)
                    digits = f"{20000000 + n:08d}"[-4:]
                    page.locator("#recipient-search").fill(digits)
                    searched.append(
                        timed(
                            page,
                            page.locator("#recipient-search-button").click,
                            f"#recipients-search-table >> text={digits}",
                        )
                    )

                # the dashboard's first paint, on a full load
                painted, shown = [], []
                for _ in range(max(3, args.rounds // 2)):
                    start = time.perf_counter()
                    page.goto(base + "/dashboard")
                    page.locator(PAGES["/dashboard"]).first.wait_for(state="visible", timeout=30_000)
                    shown.append((time.perf_counter() - start) * 1000)
                    fcp = page.evaluate(
                        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null"
                    )
                    if fcp is not None:
                        painted.append(float(fcp))
                browser.close()
    print(f"server CPU per client-side navigation: {server_ms:.1f} ms (reflex process tree)")
    print(f"{'figure':34} {'p50':>7} {'p95':>7} {'max':>7}  full reload p95 (baseline)  target p95 <= 300 ms")
    results = []

    def line(name: str, values: list[float], baseline: list[float] | None = None) -> None:
        p95 = pct(values, 95)
        ok = p95 <= TARGET_P95_MS
        base_txt = f"{pct(baseline, 95):7.0f} ms" if baseline else " " * 10
        print(f"{name:34} {pct(values, 50):5.0f}ms {p95:5.0f}ms {max(values):5.0f}ms  {base_txt}{'':18}{verdict(ok)}")
        results.append(ok)

    for route in PAGES:
        line(f"navigate to {route}", navigation[route], reload_ms[route])
    line("open a campaign from the list", opened)
    line("search a recipient (4 digits)", searched)
    line("dashboard full load to overview", shown)
    if painted:
        line("dashboard first contentful paint", painted)
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
