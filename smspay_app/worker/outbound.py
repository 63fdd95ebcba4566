"""Outbound webhook deliveries: claim due rows in the database (safe with any
number of copies running), POST the signed event, record the response, and
schedule a retry with backoff (``services.webhooks.next_attempt_after_failure``)
until delivered or more than three days have passed.

Runs with the other jobs (``worker.run_all``) and in tests through ``run_once``."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import and_, or_, update
from sqlmodel import select

from smspay_app.db import session_scope
from smspay_app.domain.clock import utcnow
from smspay_app.models import WebhookDelivery, WebhookEndpoint
from smspay_app.services import webhooks
from smspay_app.settings import get_settings

log = logging.getLogger("smspay.webhooks")
LEASE = timedelta(seconds=60)
BATCH = 50


@dataclass
class Job:
    delivery_id: int
    url: str
    secret: str
    event_id: str
    body: bytes


@dataclass
class Result:
    job: Job
    status_code: int | None
    excerpt: str
    error: str


def _claim(now: datetime, limit: int) -> list[Job]:
    due = or_(
        and_(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now),
        and_(WebhookDelivery.status == "sending", WebhookDelivery.lease_expires_at <= now),  # a dead worker's
    )
    jobs: list[Job] = []
    with session_scope() as s:
        rows = s.exec(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(due)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        ).all()
        for delivery, endpoint in rows:
            if not endpoint.active:
                continue  # stays pending; goes out when the endpoint is enabled again
            taken = s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery.id, due)
                .values(status="sending", lease_expires_at=now + LEASE)
            )
            if taken.rowcount == 1:
                jobs.append(
                    Job(delivery.id, endpoint.url, endpoint.secret, delivery.event_id, delivery.payload.encode())
                )
    return jobs


def _address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local


def _own_origin(url: str) -> bool:
    """The app itself (its simulators' ``/_reset`` among others): never a
    webhook target, whatever the settings (issue 18, item 6: an endpoint at
    the app's own ``/sim/twilio/_reset`` emptied the simulator)."""
    own = urlsplit(get_settings().public_base_url)
    target = urlsplit(url)
    return (target.hostname or "").lower() == (own.hostname or "").lower() and (
        target.port or (443 if target.scheme == "https" else 80)
    ) == (own.port or (443 if own.scheme == "https" else 80))


@dataclass
class Target:
    """Where to send: the URL with its host replaced by the address that was
    checked, the Host header and TLS name of the original host. Resolving
    once and connecting to the checked address defeats DNS rebinding (a name
    that resolves to a public address for the check and to 127.0.0.1 for the
    connection)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def resolve_target(url: str) -> Target | str:
    """The pinned target of ``url``, or the reason it is refused."""
    if _own_origin(url):
        return "target address not allowed"
    if get_settings().webhook_private_targets_allowed:
        return Target(url, {}, {})
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return "DNS lookup failed"
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses or any(_address_refused(ip) for ip in addresses):
        return "target address not allowed"
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(pinned, {"host": host_header}, extensions)


def _target_refused(url: str) -> bool:
    """True when ``url`` may not be requested (see ``resolve_target``)."""
    return not isinstance(resolve_target(url), Target)


async def _deliver(client: httpx.AsyncClient, job: Job) -> Result:
    target = await asyncio.to_thread(resolve_target, job.url)
    if not isinstance(target, Target):
        return Result(job, None, "", target)
    timestamp = int(time.time())
    headers = {
        "content-type": "application/json",
        "user-agent": "smspay-webhooks/1",
        "webhook-id": job.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign(job.secret, job.event_id, timestamp, job.body),
        **target.headers,
    }
    try:
        request = client.build_request(
            "POST", target.url, content=job.body, headers=headers, extensions=target.extensions or None
        )
        response = await client.send(request)
    except httpx.HTTPError as exc:
        return Result(job, None, "", type(exc).__name__)
    text = response.text[: webhooks.EXCERPT_CHARS]
    return Result(job, response.status_code, text, "" if response.is_success else f"HTTP {response.status_code}")


def _record(results: list[Result], now: datetime) -> None:
    with session_scope() as s:
        for r in results:
            delivery = s.get(WebhookDelivery, r.job.delivery_id)
            if delivery is None or delivery.status != "sending":
                continue
            delivery.attempts += 1
            delivery.last_attempt_at = now
            delivery.last_status_code = r.status_code
            delivery.last_response_excerpt = r.excerpt
            delivery.last_error = r.error[:200]
            delivery.lease_expires_at = None
            if not r.error:
                delivery.status = "delivered"
                delivery.delivered_at = now
            else:
                retry_at = webhooks.next_attempt_after_failure(delivery, now)
                if retry_at is None:
                    delivery.status = "failed"
                else:
                    delivery.status = "pending"
                    delivery.next_attempt_at = retry_at
            s.add(delivery)


async def run_once(now: datetime | None = None, *, client: httpx.AsyncClient | None = None, limit: int = BATCH) -> int:
    """One pass: claim due deliveries, send them, record outcomes. Returns how
    many were tried. ``now`` (naive UTC) stands in for the clock in tests."""
    now = now or utcnow()
    jobs = await asyncio.to_thread(_claim, now, limit)
    if not jobs:
        return 0
    own = client is None
    client = client or httpx.AsyncClient(timeout=get_settings().webhook_timeout_seconds, follow_redirects=False)
    try:
        results = await asyncio.gather(*(_deliver(client, j) for j in jobs))
    finally:
        if own:
            await client.aclose()
    await asyncio.to_thread(_record, list(results), now)
    return len(jobs)


async def run_forever(stop: asyncio.Event) -> None:
    """Deliver due webhooks until ``stop`` is set (one HTTP client throughout)."""
    from smspay_app.worker.loop import every

    settings = get_settings()
    async with httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        await every(
            settings.worker_poll_seconds,
            lambda: run_once(client=client),
            stop,
            name="webhook delivery",
            repeat_when_busy=True,
        )
