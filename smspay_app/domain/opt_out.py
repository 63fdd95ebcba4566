"""Is an SMS reply an opt-out? A pure classifier (no I/O).

Japanese has no spaces, so finding a keyword *inside* a reply proves nothing:
``ロックを解除してください`` (please unlock) and ``停止を解除して`` (please undo
the stop) contain ``解除`` and ``停止`` and are requests for help. A reply opts
out only when, line by line, after trimming punctuation, polite prefixes and
endings (``してください``, ``をお願いします``, ``希望``, ``please`` ...), every line
is an opt-out keyword or a courtesy (``よろしくお願いします``, ``thanks``), and at
least one is a keyword: ``STOP``, ``停止。``, ``配信停止してください``,
``Please stop``, ``配信停止\\nよろしくお願いします``.

A reply that mentions a keyword (an English one as a word of its own) or asks
for something to stop in other words (``止めて``, ``送らないで``) without being
certain is ``UNSURE``: it goes to the desk, which decides. Everything else is
``NONE``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum


class OptOutVerdict(StrEnum):
    # The reply is an opt-out: the number leaves the organisation's campaigns.
    OPT_OUT = "opt_out"
    # It may be one: shown to the desk, nothing is changed automatically.
    UNSURE = "unsure"
    # An ordinary reply.
    NONE = "none"


# Trimmed from both ends of every line (repeatedly, with the courtesies below).
_EDGE = re.compile(
    r"^[\s.,!?;:。、！？「」『』()（）【】\[\]<>〈〉~〜…・*\"'`ー-]+|[\s.,!?;:。、！？「」『』()（）【】\[\]<>〈〉~〜…・*\"'`ー-]+$"
)
_POLITE_PREFIXES = (
    "お手数ですが",
    "お手数をおかけしますが",
    "恐れ入りますが",
    "すみません",
    "すいません",
    "申し訳ありませんが",
    "PLEASE",
    "KINDLY",
)
# Longest first (each is tried in turn until none applies).
_POLITE_ENDINGS = tuple(
    sorted(
        (
            "をお願いいたします",
            "をお願い致します",
            "をお願いします",
            "お願いいたします",
            "お願い致します",
            "お願いします",
            "でお願いします",
            "してください",
            "して下さい",
            "してほしいです",
            "して欲しいです",
            "してほしい",
            "して欲しい",
            "をしてください",
            "ください",
            "下さい",
            "希望します",
            "を希望",
            "希望",
            "します",
            "です",
            "して",
            "PLEASE",
            "THANKS",
            "THANK YOU",
            "NOW",
        ),
        key=len,
        reverse=True,
    )
)
# Whole lines that are only courtesy (a greeting, thanks, a sign-off).
_COURTESIES = frozenset(
    {
        "",
        "よろしくお願いします",
        "よろしくお願いいたします",
        "宜しくお願いします",
        "宜しくお願い致します",
        "よろしく",
        "ありがとうございます",
        "ありがとうございました",
        "ありがとう",
        "THANKS",
        "THANK YOU",
        "THX",
    }
)
# Words that hint at an opt-out without proving one: the reply goes to the desk.
_HINTS = (
    "止め",
    "止めて",
    "やめ",
    "辞め",
    "送らない",
    "送信しない",
    "来ない",
    "不要",
    "いらない",
    "要らない",
    "拒否",
    "配信",
    "解除",
    "停止",
    "キャンセル",
    "退会",
    "ストップ",
)


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").upper()


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _trim(line: str) -> str:
    """A line without edge punctuation, polite prefixes and polite endings."""
    previous = None
    while previous != line:
        previous = line
        line = _EDGE.sub("", line)
        for prefix in _POLITE_PREFIXES:
            if line.startswith(prefix):
                line = line[len(prefix) :]
        for ending in _POLITE_ENDINGS:
            if line.endswith(ending) and len(line) > len(ending):
                line = line[: -len(ending)]
                break
    return line


def _mentions(text: str, word: str) -> bool:
    if word.isascii():
        return re.search(rf"(?<![A-Z0-9]){re.escape(word)}(?![A-Z0-9])", text) is not None
    return word in _squash(text)


def classify(body: str, words: Iterable[str]) -> OptOutVerdict:
    """The verdict on ``body`` for these opt-out keywords (case, width and
    spacing do not matter)."""
    keywords = {_squash(_normalise(w)) for w in words} - {""}
    text = _normalise(body).strip()
    if not text or not keywords:
        return OptOutVerdict.NONE
    lines = [line for line in re.split(r"[\r\n]+", text) if line.strip()]
    found = False
    certain = True
    for line in lines:
        core = _squash(_trim(line))
        if core in keywords:
            found = True
        elif core not in _COURTESIES and _squash(_EDGE.sub("", line)) not in _COURTESIES:
            certain = False
    if found and certain:
        return OptOutVerdict.OPT_OUT
    if any(_mentions(text, w) for w in keywords) or any(h in _squash(text) for h in _HINTS):
        return OptOutVerdict.UNSURE
    return OptOutVerdict.NONE
