"""Rules of a recipient's link (pure, no I/O): how long it may live.

The lifetime limit has one owner, here: the campaign editor's validation, the
REST API's schema (``le=MAX_LIFETIME_HOURS``) and the texts that spell the
limit (``campaign.error.lifetime_range``, ``editor.lifetime.help``) derive
from these constants, and a test fails when any of them disagrees."""

from __future__ import annotations

MIN_LIFETIME_HOURS = 1
MAX_LIFETIME_DAYS = 90
MAX_LIFETIME_HOURS = MAX_LIFETIME_DAYS * 24
