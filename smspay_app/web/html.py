"""Page layout for the recipient pages: plain server-rendered HTML, mobile
first, no JavaScript, a small inline stylesheet, every value escaped. Each
page stays well under 15 KB so feature-phone browsers load it quickly."""

from __future__ import annotations

from functools import lru_cache
from html import escape
from urllib.parse import urlsplit

from starlette.responses import HTMLResponse

CSS = (
    "*{box-sizing:border-box}"
    "body{margin:0;background:#eef2f6;color:#17202b;font:16px/1.6 -apple-system,"
    "'Hiragino Sans','Noto Sans JP',Meiryo,sans-serif;-webkit-text-size-adjust:100%}"
    "header{background:#17365d;color:#fff;padding:.7rem 1rem}"
    "header b{display:block;font-size:1.05rem;max-width:32rem;margin:0 auto}"
    "main{max-width:32rem;margin:0 auto;padding:.8rem}"
    ".card{background:#fff;border-radius:10px;padding:1rem;margin:0 0 .8rem;"
    "box-shadow:0 1px 3px rgba(0,0,0,.12)}"
    "h1{font-size:1.25rem;margin:0 0 .6rem;line-height:1.35}"
    "p{margin:.4rem 0}"
    "label{display:block;font-weight:600;margin:.8rem 0 .2rem}"
    "input[type=text],input[type=tel],input[type=password],input[type=email]{width:100%;font-size:1.1rem;"
    "padding:.6rem;border:1px solid #8a96a8;border-radius:6px}"
    ".btn{display:block;width:100%;margin:1rem 0 .2rem;padding:.85rem;font-size:1.1rem;"
    "font-weight:700;color:#fff;background:#0b6e4f;border:0;border-radius:8px;"
    "text-align:center;text-decoration:none}"
    ".btn.alt{background:#fff;color:#17365d;border:2px solid #17365d}"
    ".msg{white-space:pre-wrap;word-wrap:break-word}"
    ".err{background:#fdecea;color:#8a1c13;border-left:4px solid #c0392b;padding:.6rem;border-radius:4px}"
    ".ok{background:#e7f5ee;color:#0b4f38;border-left:4px solid #0b6e4f;padding:.6rem;border-radius:4px}"
    ".hint{color:#5a6675;font-size:.85rem}"
    "table{width:100%;border-collapse:collapse;font-size:.88rem}"
    "th,td{padding:.35rem .2rem;border-bottom:1px solid #e1e6ec;text-align:left}"
    ".n{text-align:right;white-space:nowrap}"
    "td:first-child{min-width:3.5em}th,td{word-wrap:break-word}"
    ".num{text-align:right;font-size:1.05rem;font-weight:700;letter-spacing:.03em;word-break:break-all}"
    ".total{font-size:1.5rem;font-weight:700}"
    "footer{max-width:32rem;margin:0 auto;padding:0 1rem 1.5rem;color:#5a6675;font-size:.85rem}"
    "footer a{color:#17365d}"
)


# Where the page's charset goes (``<meta charset>``, a form's
# ``accept-charset`` and ``_charset_`` field): filled in by ``html_response``,
# so one rendered (and cached) page serves UTF-8 and Shift_JIS browsers alike.
CHARSET = "\x00charset\x00"
# Python's codec for each charset a page is served in (cp932: Shift_JIS as
# Japanese phones and Windows write it, with the NEC / IBM extensions).
CODECS = {"UTF-8": "utf-8", "Shift_JIS": "cp932"}


def page(
    *,
    title: str,
    body: str,
    lang: str,
    org_name: str = "",
    footer: str = "",
    refresh_seconds: int | None = None,
) -> str:
    """A complete document. ``body`` and ``footer`` are already-escaped HTML."""
    refresh = f'<meta http-equiv="refresh" content="{int(refresh_seconds)}">' if refresh_seconds else ""
    brand = f"<header><b>{escape(org_name)}</b></header>" if org_name else ""
    return (
        f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="{CHARSET}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex,nofollow">'
        f"{refresh}<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"{brand}<main>{body}</main><footer>{footer}</footer></body></html>"
    )


def security_headers(form_targets: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers on every recipient page. ``form_targets`` are extra origins a
    form may end up at (the payment gateway, reached by a 303 after a POST)."""
    origins = " ".join(sorted({_origin(u) for u in form_targets if _origin(u)}))
    form_action = f"'self' {origins}".strip()
    return {
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
            f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
        ),
    }


@lru_cache(maxsize=256)
def _raw_security_headers(form_targets: tuple[str, ...]) -> tuple[tuple[bytes, bytes], ...]:
    """``security_headers`` encoded once per set of form targets."""
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in security_headers(form_targets).items())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def encode_page(content: str, charset: str = "UTF-8") -> bytes:
    """The page in ``charset`` (``CODECS``); a character the charset lacks
    (``¥`` in Shift_JIS, an emoji) becomes a numeric character reference."""
    if charset not in CODECS:
        charset = "UTF-8"
    return content.replace(CHARSET, charset).encode(CODECS[charset], errors="xmlcharrefreplace")


def html_response(
    content: str | bytes,
    status_code: int = 200,
    *,
    form_targets: tuple[str, ...] = (),
    head_only: bool = False,
    charset: str = "UTF-8",
) -> HTMLResponse:
    """The page with its security headers; ``content`` is the page's text, or
    its bytes already in ``charset`` (``encode_page``: a page cached encoded)."""
    if charset not in CODECS:
        charset = "UTF-8"
    body = content if isinstance(content, bytes) else encode_page(content, charset)
    response = HTMLResponse(
        b"" if head_only else body, status_code=status_code, media_type=f"text/html; charset={charset}"
    )
    response.raw_headers.extend(_raw_security_headers(tuple(form_targets)))
    if head_only:
        response.headers["content-length"] = str(len(body))
    return response
