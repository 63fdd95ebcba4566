"""User-agent classes for the short-link timeline (no personal data: only a
coarse class is ever stored, never the raw header).

Link preview bots and security scanners fetch a link before the person does
(iMessage, LINE, Slack, WhatsApp, Microsoft Safe Links, carrier scanners...).
Whatever they send, they are recorded as ``preview`` and never as the
person's click. The click itself is defined in ``services.journey``: the first
POST on the link (a form the person submitted), never a GET or HEAD.

``classify(ua)`` returns one of:

- ``preview``: a known preview bot, scanner, crawler or command-line client
  (or no user agent at all);
- ``feature_phone``: a Japanese feature-phone (garake) or similar browser;
- ``mobile``: a smartphone browser (including in-app browsers such as LINE's);
- ``desktop``: any other browser-like agent;
- ``other``: something that is not browser-like and not a known bot.
"""

from __future__ import annotations

import re
from functools import lru_cache

# Substrings (lower case) that mark preview bots, scanners and scripted
# clients. iMessage fetches previews as "facebookexternalhit ... Twitterbot".
_PREVIEW_MARKERS = (
    "facebookexternalhit",
    "facebookcatalog",
    "meta-externalagent",
    "twitterbot",
    "slackbot",
    "slack-imgproxy",
    "whatsapp",
    "discordbot",
    "telegrambot",
    "skypeuripreview",
    "bingpreview",
    "bingbot",
    "msnbot",
    "googlebot",
    "google-inspectiontool",
    "googleother",
    "adsbot-google",
    "mediapartners-google",
    "feedfetcher-google",
    "google-safety",
    "applebot",
    "linespider",
    "line-poker",
    "linkedinbot",
    "pinterest",
    "redditbot",
    "embedly",
    "quora link preview",
    "vkshare",
    "yahoo! slurp",
    "yandexbot",
    "baiduspider",
    "duckduckbot",
    "petalbot",
    "bytespider",
    "mattermost",
    "rocket.chat",
    "viber",
    "kakaotalk-scrap",
    "snapchat",
    "iframely",
    "outlook",  # Outlook / Office link preview ("Microsoft Office ... Outlook")
    "ms-office",
    "microsoft office",
    "safelinks",
    "microsoft url control",
    "proofpoint",
    "mimecast",
    "barracuda",
    "symantec",
    "trendmicro",
    "virustotal",
    "urlscan",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "python-httpx",
    "aiohttp",
    "go-http-client",
    "okhttp",
    "java/",
    "apache-httpclient",
    "libwww-perl",
    "httpie",
    "postmanruntime",
    "headlesschrome",
    "phantomjs",
    "node-fetch",
    "axios/",
    "undici",
    "scrapy",
    "preview",
    "crawler",
    "spider",
    "scanner",
)
_BOT_WORD = re.compile(r"(?<![a-z])bot(?![a-z])|bot[/);]")
# LINE's bots ("Line/x.y" with no browser around it, "LINE-..." fetchers).
# LINE's in-app browser ("Mozilla/5.0 (iPhone...) ... Line/13.1.0") is a person.
_LINE_BOT = re.compile(r"^line/|(^|[^a-z])line-[a-z]")

_FEATURE_PHONE = (
    "docomo/",
    "kddi-",
    "up.browser",
    "softbank/",
    "vodafone/",
    "j-phone/",
    "willcom",
    "opera mini",
    "kaios",
    "obigo",
    "netfront",
    "openwave",
    "series40",
    "nokia",
    "midp-",
    "ucbrowser",
)
_MOBILE = ("mobile", "android", "iphone", "ipod", "ipad", "windows phone")


@lru_cache(maxsize=2048)
def classify(user_agent: str | None) -> str:
    ua = (user_agent or "").strip().lower()
    if not ua:
        return "preview"  # a real browser always sends one
    if _LINE_BOT.search(ua) or any(m in ua for m in _PREVIEW_MARKERS) or _BOT_WORD.search(ua):
        return "preview"
    if any(m in ua for m in _FEATURE_PHONE):
        return "feature_phone"
    if any(m in ua for m in _MOBILE):
        return "mobile"
    if ua.startswith("mozilla/") or ua.startswith("opera/"):
        return "desktop"
    return "other"


# Browsers of the Japanese carriers' feature-phone services that read and
# post Shift_JIS: i-mode (docomo), EZweb (au / KDDI, UP.Browser) and
# Yahoo!ケータイ (SoftBank, formerly Vodafone and J-PHONE).
_SHIFT_JIS = ("docomo/", "kddi-", "up.browser", "softbank/", "vodafone/", "j-phone/", "mot-")


@lru_cache(maxsize=2048)
def page_charset(user_agent: str | None) -> str:
    """The charset to serve a page in: ``Shift_JIS`` for i-mode / EZweb /
    Yahoo!ケータイ browsers (issue 14), ``UTF-8`` for everything else."""
    ua = (user_agent or "").strip().lower()
    if classify(user_agent) == "feature_phone" and any(m in ua for m in _SHIFT_JIS):
        return "Shift_JIS"
    return "UTF-8"


def is_preview(user_agent: str | None) -> bool:
    """True for preview bots, scanners and scripted clients."""
    return classify(user_agent) == "preview"
