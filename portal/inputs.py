"""Numbers typed by a person, and file names sent back to one, handled in one strict place.

`str.isdigit()` and `int()` accept far more than ASCII digits ("²" passes the first and
fails the second; `int("١٢٣")` is 123), and a number longer than a database integer
overflows the query: both turned odd input into 500s. A download's file name goes into a
header, where a server cannot send non-Latin-1 text and CR/LF would split the header.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from portal.security import MAX_ROW_ID

# Eighteen digits hold any bound used here and keep int() cheap on a 10,000-digit value.
_INTEGER = re.compile(r"-?[0-9]{1,18}")
# What the plain `filename=` fallback keeps: an RFC 6266 token, no quotes or separators.
_UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._-]+")
_PATH_SEPARATORS = re.compile(r"[/\\]+")
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{1,10})\Z")
MAX_FILENAME_CHARS = 150


def parse_int(raw: object, *, minimum: int, maximum: int) -> int | None:
    """`raw` as an integer when it is ASCII digits (with a leading minus sign) between
    `minimum` and `maximum`; otherwise None, for the caller to refuse or ignore."""
    if not isinstance(raw, str):
        return None
    text = raw.strip(" ")
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if minimum <= value <= maximum else None


def parse_row_id(raw: object) -> int | None:
    """A row id or ticket number: a positive integer the database's columns can hold."""
    return parse_int(raw, minimum=1, maximum=MAX_ROW_ID)


def _without_controls(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def _ascii_fallback(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    suffix = _SUFFIX.search(decomposed)
    stem = decomposed[:suffix.start()] if suffix else decomposed
    stem = _UNSAFE_IN_FALLBACK.sub("_", stem).strip("._-")[:MAX_FILENAME_CHARS] or "download"
    return f"{stem}.{suffix.group(1)}" if suffix else stem


def content_disposition(filename: str, *, attachment: bool = True) -> str:
    """The Content-Disposition header for a download named `filename` (RFC 6266): a plain
    ASCII `filename=` every browser reads, and the full name as UTF-8 in `filename*=`."""
    name = _PATH_SEPARATORS.sub("_", _without_controls(filename)).strip(" ._")
    name = name[-MAX_FILENAME_CHARS:] or "download"
    disposition = "attachment" if attachment else "inline"
    return (f"{disposition}; filename={_ascii_fallback(name)}; "
            f"filename*=UTF-8''{quote(name, safe='')}")
