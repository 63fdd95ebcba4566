"""The recipient page's message: how long it may be and how it is split into
light pages (issue 14: the API accepted a 5,000-character message that made
an 18.7 KB page; feature phones want every page under 15 KB).

``PAGE_MESSAGE_MAX_CHARS`` is the one owner of the limit: the API's
``max_length``, the campaign check and the editor's hint all read it.
``split_message`` cuts a message into parts of at most
``MESSAGE_PAGE_CHARS`` characters, at a blank line, else a line end, else a
sentence end (。．.!?！？), else hard; the recipient page shows one part with
next / previous links."""

from __future__ import annotations

PAGE_MESSAGE_MAX_CHARS = 5000
# One part of the message per page: 1,000 wide characters are 3 KB in UTF-8
# (2 KB in Shift_JIS), so a page stays near 6 KB with the rest of it.
MESSAGE_PAGE_CHARS = 1000
_SENTENCE_ENDS = "。．.!?！？"


def split_message(text: str, size: int = MESSAGE_PAGE_CHARS) -> list[str]:
    """The parts of ``text``, each at most ``size`` characters, in order;
    joined they give the text back (the cut whitespace aside). At least one
    part (an empty message is one empty part)."""
    size = max(1, size)
    rest = text.strip("\n")
    parts: list[str] = []
    while len(rest) > size:
        window = rest[:size]
        cut = window.rfind("\n\n")
        if cut < size // 3:
            cut = window.rfind("\n")
        if cut < size // 3:
            cut = max(window.rfind(ch) for ch in _SENTENCE_ENDS)
            cut = cut + 1 if cut >= size // 3 else -1
        if cut < size // 3:
            cut = size
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


def page_count(text: str) -> int:
    return len(split_message(text))
