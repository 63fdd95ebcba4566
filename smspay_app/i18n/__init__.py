"""UI text in Japanese (default) and English. Each area keeps its messages in
its own module here (``MESSAGES = {key: {"ja": ..., "en": ...}}``); this module
merges them. ``t(key, lang, **fields)`` formats one; a missing key fails loudly
in tests (``tests/test_i18n.py`` checks every key has both languages)."""

from __future__ import annotations

import importlib
import pkgutil

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


def _load() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for key, texts in getattr(module, "MESSAGES", {}).items():
            if key in merged:
                raise RuntimeError(f"message key defined twice: {key}")
            merged[key] = texts
    return merged


CATALOG: dict[str, dict[str, str]] = _load()


def normalise_language(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANGUAGE
    lang = lang.strip().lower()[:2]
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def language_from_accept(header: str | None) -> str:
    """Pick ja/en from an Accept-Language header (first supported wins)."""
    for part in (header or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def t(key: str, lang: str | None = None, **fields: object) -> str:
    texts = CATALOG[key]
    text = texts[normalise_language(lang)]
    return text.format(**fields) if fields else text


def chosen_language(*choices: str | None, accept: str | None = None) -> str:
    """The first of ``choices`` that names ja/en (``?lang=``, a saved choice,
    ...), else the Accept-Language header's, else Japanese."""
    for value in choices:
        if value and str(value)[:2].lower() in LANGUAGES:
            return normalise_language(str(value))
    return language_from_accept(accept)
