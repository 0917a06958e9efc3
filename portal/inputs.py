"""Numbers typed by a person, handled in one strict place.

`str.isdigit()` and `int()` accept far more than ASCII digits ("²" passes the first and
fails the second; `int("١٢٣")` is 123), and a number longer than a database integer
overflows the query: both turned odd input into 500s.
"""

from __future__ import annotations

import re

from portal.security import MAX_ROW_ID

# Eighteen digits hold any bound used here and keep int() cheap on a 10,000-digit value.
_INTEGER = re.compile(r"-?[0-9]{1,18}")


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
