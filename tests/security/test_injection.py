"""SQL injection attempts in every filter and query parameter: a normal page or a clear 400,
never a 500, never someone else's data, and the tables are all still there afterwards."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.tickets.models import Ticket

from .conftest import INTERNAL_TITLE, PRIVATE_SUBJECT, World

# One or two of each kind: quotes and comments, UNION, stacked queries, LIKE wildcards,
# full-text syntax, NUL, numbers and dates out of range, odd Unicode, a very long value.
INJECTIONS = (
    "' OR '1'='1' --",
    "\" OR \"\"=\"",
    "') UNION SELECT email, password_hash FROM user_account --",
    "1; DROP TABLE user_account; --",
    "'; SELECT pg_sleep(3); --",
    "%' OR '%'='",
    "\\",
    "abc\x00' OR 1=1 --",
    "NEAR(password reset) OR title:* & | ! :* <->",
    "-1",
    "2026-02-30",
    "99999999999999999999999",
    "0001-01-01",
    "9999-12-31",
    "é€😀\u202e",
    "x" * 5000,
)
# (persona, URL, its filter parameters): every parameter a list or search page reads.
FILTERS = (
    ("other_customer", "/kb/search", ("q", "category", "page")),
    ("other_customer", "/kb/search/open", ("slug", "sid", "q", "pos")),
    ("other_customer", "/tickets/new/suggestions", ("subject", "q", "form_id")),
    ("other_customer", "/chat/suggest", ("q",)),
    ("other_customer", "/tickets", ("status", "q")),
    ("agent", "/tickets/queue", ("status", "priority", "category", "assignee", "due", "team",
                                 "tier", "q", "page")),
    ("agent", "/tickets/{ticket}/kb-search", ("q",)),
    ("agent", "/tickets/{ticket}/macro", ("name",)),
    ("editor", "/kb/editor", ("status", "q")),
    ("editor", "/kb/editor/new", ("title", "category")),
    ("manager", "/metrics", ("start", "end", "category", "grain")),
    # The export reads the dashboard's filters with the same parser.
    ("manager", "/metrics/export/kpis.csv", ("start", "category")),
)
CASES = [(persona, url, name) for persona, url, names in FILTERS for name in names]
PATHS = (("other_customer", "/kb/{}"), ("editor", "/kb/editor/{}/edit"),
         ("editor", "/kb/editor/{}/history"), ("anonymous", "/tickets/track/{}"),
         ("agent", "/tickets/{}"), ("customer", "/chat/{}/handoff"),
         ("customer", "/chat/1/messages/{}"))
ACCEPTABLE = {200, 303, 400, 404, 422}


def _leaks(body: str, persona: str) -> list[str]:
    found = []
    if "scrypt:" in body or "pbkdf2:" in body:
        found.append("a password hash")
    if persona != "agent" and PRIVATE_SUBJECT in body:
        found.append("another customer's ticket")
    if persona in ("anonymous", "other_customer") and INTERNAL_TITLE in body:
        found.append("an internal article")
    return found


def _counts() -> tuple[int, int]:
    db.session.expire_all()
    counts = (db.session.scalar(select(func.count()).select_from(User)) or 0,
              db.session.scalar(select(func.count()).select_from(Ticket)) or 0)
    db.session.rollback()
    return counts


@pytest.mark.parametrize(("persona", "url", "name"), CASES,
                         ids=[f"{url}-{name}" for _, url, name in CASES])
def test_injection_in_a_filter_gives_a_normal_page(
    world: World, persona: str, url: str, name: str
) -> None:
    client = world.client(persona)
    target = url.format(ticket=world.ticket_number)
    before = _counts()
    problems = []
    for attempt in INJECTIONS:
        response = client.get(target, query_string={name: attempt})
        body = response.get_data(as_text=True)
        response.close()
        if response.status_code not in ACCEPTABLE:
            problems.append(f"{attempt[:40]!r}: {response.status_code}")
        problems += [f"{attempt[:40]!r}: shows {leak}" for leak in _leaks(body, persona)]
    assert not problems, f"{target}?{name}=...\n  " + "\n  ".join(problems)
    assert _counts() == before


@pytest.mark.parametrize(("persona", "path"), PATHS, ids=[p for _, p in PATHS])
def test_injection_in_a_path_gives_a_normal_page(world: World, persona: str, path: str) -> None:
    problems = []
    for attempt in INJECTIONS:
        response = world.client(persona).get(path.format(quote(attempt, safe="")))
        body = response.get_data(as_text=True)
        response.close()
        if response.status_code not in ACCEPTABLE:
            problems.append(f"{attempt[:40]!r}: {response.status_code}")
        problems += [f"{attempt[:40]!r}: shows {leak}" for leak in _leaks(body, persona)]
    assert not problems, "\n  ".join(problems)


def test_a_nul_character_is_dropped_from_what_was_sent_and_refused_in_an_address(
        world: World) -> None:
    # PostgreSQL cannot store NUL; nobody means to type it, so the rest of the text counts.
    response = world.client("agent").get("/tickets/queue", query_string={"q": "Heat\x00ing"})
    assert response.status_code == 200
    assert 'value="Heating"' in response.get_data(as_text=True)
    response = world.client("customer").post("/tickets/new", data={
        "subject": "Heating stopped", "description": "It stopped\x00 working overnight."})
    assert response.status_code in (200, 302, 303)
    saved = db.session.scalar(select(Ticket).where(Ticket.subject == "Heating stopped"))
    assert saved is not None and saved.description == "It stopped working overnight."
    response = world.client("customer").get("/kb/reset%00password")
    assert response.status_code == 400 and "NUL character" in response.get_data(as_text=True)
