"""Text from strangers made safe for places where characters have meaning.

A mail header ends at a line break, and RFC 2047 encoded words (`=?utf-8?q?=0D=0A?=`)
are line breaks in disguise: mail readers decode them, and so does Python's own `email`
package before 3.11.10, which then writes the decoded CR/LF raw (CVE-2024-6923). So the
portal decodes encoded words itself, drops every control and line-separator character
from the result, and leaves no `=?` behind for anyone to decode again: whichever Python
or mail reader comes next finds nothing to decode. File names get the same treatment and
lose what a file system or a download dialogue reads as structure.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
import unicodedata
from urllib.parse import quote

# A subject is at most 200 characters, plus the ticket tag and "We received your
# request: ": anything longer was not typed by a person, and long headers get folded
# into many lines that some servers mishandle.
MAX_HEADER_CHARS = 300
MAX_FILE_NAME_CHARS = 150
MAX_EXTENSION_CHARS = 20
# Each round of decoding can reveal another encoded word inside (`=3D=3F` is `=?`).
MAX_DECODE_ROUNDS = 5

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([qQbB])\?([^?\s]*)\?=")
# Whitespace between two encoded words is folding, not text (RFC 2047 section 6.2).
_BETWEEN_WORDS = re.compile(r"(?<=\?=)\s+(?==\?[^?\s]{1,60}\?[qQbB]\?)")
# Format characters that are part of writing, not tricks: joiners in emoji and in Persian
# or Indic words, and the tag characters of subdivision flags (🏴 England, Scotland).
_KEPT_FORMAT = {"\u200c", "\u200d"}
_TAGS = range(0xE0020, 0xE0080)
_NOT_IN_FILE_NAMES = re.compile(r'[<>:"|?*]')
# What the plain `filename=` fallback keeps: an RFC 6266 token, no quotes or separators.
_UNSAFE_IN_FALLBACK = re.compile(r"[^A-Za-z0-9._-]+")
_PATH_SEPARATORS = re.compile(r"[/\\]+")
_SUFFIX = re.compile(r"\.([A-Za-z0-9]{1,10})\Z")
_RESERVED_FILE_NAMES = {"CON", "PRN", "AUX", "NUL", *(f"COM{n}" for n in range(1, 10)),
                        *(f"LPT{n}" for n in range(1, 10))}


def _replacement(char: str) -> str | None:
    """What replaces `char` in one line of text: None keeps it."""
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp", "Cs"):
        return " "  # a break between words: "a\r\nb" reads "a b"
    if category == "Cf" and char not in _KEPT_FORMAT and ord(char) not in _TAGS:
        return ""  # bidi overrides, zero-width spaces, BOMs: invisible tricks
    return None


def one_line(text: str) -> str:
    """`text` on one line: no controls, separators or invisible format characters, and
    each run of whitespace (tabs, no-break spaces) one space."""
    kept = []
    for char in text:
        replacement = _replacement(char)
        kept.append(char if replacement is None else replacement)
    return " ".join("".join(kept).split())


def _word_bytes(match: re.Match[str]) -> tuple[str, bytes] | None:
    """An encoded word's charset and bytes; None when it cannot be decoded."""
    charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231: charset*language
    encoded = match.group(3)
    try:
        codecs.lookup(charset)
        if match.group(2) in "qQ":
            return charset, quopri.decodestring(encoded.encode("ascii"), header=True)
        padded = encoded + "=" * (-len(encoded) % 4)
        return charset, base64.b64decode(padded.encode("ascii"), validate=False)
    except (LookupError, ValueError, UnicodeError, binascii.Error):
        return None


def _text_of(charset: str, data: bytes) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a codec that is no text encoding (rot13, hex)
        return data.decode("utf-8", "replace")


def decode_encoded_words(text: str) -> str:
    """`text` with the encoded words a mail reader would decode, decoded.

    Adjacent words of one charset are joined before decoding, as readers do, so a
    character split over two words is seen whole. Words that cannot be decoded stay.
    """
    text = _BETWEEN_WORDS.sub("", text)
    pieces: list[str] = []
    pending_charset, pending = "", b""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        decoded = _word_bytes(match)
        if decoded is None:
            continue
        charset, data = decoded
        if match.start() != position or charset != pending_charset:
            if pending_charset:
                pieces.append(_text_of(pending_charset, pending))
            pieces.append(text[position:match.start()])
            pending_charset, pending = charset, b""
        pending += data
        position = match.end()
    if pending_charset:
        pieces.append(_text_of(pending_charset, pending))
    pieces.append(text[position:])
    return "".join(pieces)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def header_text(text: str, limit: int = MAX_HEADER_CHARS) -> str:
    """`text` fit for a mail header: one line, readable, nothing left to decode."""
    for _ in range(MAX_DECODE_ROUNDS):
        decoded = one_line(decode_encoded_words(text))
        if decoded == text:
            break
        text = decoded
    else:
        text = one_line(text)
    # Whatever is still shaped like an encoded word (an unknown charset, a sixth level
    # of nesting) is broken open, so no later reader decodes it either.
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return shorten(text, limit)


def file_name(text: str) -> str:
    """A sender's file name as a plain name; "" when nothing usable is left.

    No folders, no characters Windows refuses, no device names, no leading dots (hidden
    files), and nothing a Content-Disposition header or a download dialogue reads as
    structure or shows reversed.
    """
    name = header_text(text, limit=10 * MAX_FILE_NAME_CHARS)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _NOT_IN_FILE_NAMES.sub("_", name).strip(" .")
    if name.split(".", 1)[0].upper() in _RESERVED_FILE_NAMES:
        name = "_" + name
    if len(name) > MAX_FILE_NAME_CHARS:
        stem, dot, extension = name.rpartition(".")
        if not dot or len(extension) > MAX_EXTENSION_CHARS:
            stem, extension = name, ""
        ending = f".{extension}" if extension else ""
        name = stem[: MAX_FILE_NAME_CHARS - len(ending)].rstrip(" .") + ending
    return name


def _without_controls(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")


def _ascii_fallback(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    suffix = _SUFFIX.search(decomposed)
    stem = decomposed[:suffix.start()] if suffix else decomposed
    stem = _UNSAFE_IN_FALLBACK.sub("_", stem).strip("._-")[:MAX_FILE_NAME_CHARS] or "download"
    return f"{stem}.{suffix.group(1)}" if suffix else stem


def content_disposition(filename: str, *, attachment: bool = True) -> str:
    """The Content-Disposition header for a download named `filename` (RFC 6266): a plain
    ASCII `filename=` every browser reads, and the full name as UTF-8 in `filename*=`.

    A server cannot send non-Latin-1 text in a header (a CSV export named in Arabic digits
    hung the connection), and CR/LF would split it.
    """
    name = _PATH_SEPARATORS.sub("_", _without_controls(filename)).strip(" ._")
    name = name[-MAX_FILE_NAME_CHARS:] or "download"
    disposition = "attachment" if attachment else "inline"
    return (f"{disposition}; filename={_ascii_fallback(name)}; "
            f"filename*=UTF-8''{quote(name, safe='')}")

