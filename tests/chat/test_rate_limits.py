"""Bot answers and anonymous tickets are metered: a burst gets a clear 429, others go on.

Each bot answer may be a paid LLM call, and each anonymous ticket lands in the agents'
queue, so a script must not get them unmetered, while a second visitor on another
address is not held up by it.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.chat.models import Conversation
from portal.extensions import db
from portal.ratelimit import Limit, RateLimiter
from portal.tickets.models import Ticket

REDIS_URL = "redis://127.0.0.1:6379/0"
QUESTION = "How do I reset my password?"
SUGGEST = "/chat/suggest?q=reset+my+password+please"
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def _kb(indexed_kb: list[str]) -> None:
    pass


def _from(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def _suggest(client: Any, address: str = "203.0.113.50") -> Any:
    return client.get(SUGGEST, headers=HTMX, **_from(address))


def _over_the_limit(response: Any) -> str:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    return response.get_data(as_text=True)


def test_suggestions_are_limited_per_browser_and_another_address_goes_on(app: Any,
                                                                         client: Any) -> None:
    app.config["CHAT_LIMIT_PER_SESSION"] = 3
    assert [_suggest(client).status_code for _ in range(3)] == [200, 200, 200]
    page = _over_the_limit(_suggest(client))
    assert "Short answers are paused for" in page and "seconds" in page
    assert _suggest(app.test_client(), "203.0.113.51").status_code == 200


def test_suggestions_are_limited_per_address_across_browsers(app: Any) -> None:
    app.config["CHAT_LIMIT_PER_IP"] = 4
    codes = [_suggest(app.test_client()).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429]
    assert _suggest(app.test_client(), "203.0.113.52").status_code == 200


def test_chat_messages_count_with_suggestions_and_keep_the_draft(app: Any,
                                                                 client: Any) -> None:
    app.config["CHAT_LIMIT_PER_SESSION"] = 2
    assert _suggest(client).status_code == 200
    first = client.post("/chat/messages", data={"message": QUESTION}, headers=HTMX,
                        **_from("203.0.113.50"))
    assert first.status_code == 200
    page = _over_the_limit(client.post("/chat/messages", data={"message": "Still there?"},
                                       headers=HTMX, **_from("203.0.113.50")))
    assert "faster than I can answer" in page and "Still there?" in page


def test_signed_in_customers_get_a_larger_budget_of_their_own(app: Any, client: Any,
                                                              login_as: Any) -> None:
    app.config.update(CHAT_LIMIT_PER_SESSION=1, CHAT_LIMIT_PER_USER=3)
    login_as(Role.CUSTOMER)
    assert [_suggest(client).status_code for _ in range(4)] == [200, 200, 200, 429]


@pytest.fixture
def redis_limiter(app: Any) -> Iterator[str]:
    """The app's limiter counting in the local Redis under a prefix of this test's own."""
    prefix = f"test-{secrets.token_hex(6)}:rl:"
    app.extensions["portal.ratelimiter"] = RateLimiter(REDIS_URL, prefix=prefix)
    yield prefix
    server = redis.Redis.from_url(REDIS_URL)
    for key in server.scan_iter(f"{prefix}*"):
        server.delete(key)


def test_the_limit_holds_through_redis_for_every_process(app: Any, client: Any,
                                                         redis_limiter: str) -> None:
    app.config["CHAT_LIMIT_PER_SESSION"] = 2
    assert [_suggest(client).status_code for _ in range(2)] == [200, 200]
    _over_the_limit(_suggest(client))
    # Another process (here: a second limiter on the same Redis) sees the same count.
    visitor = client.get_cookie("portal_visitor").value
    other_process = RateLimiter(REDIS_URL, prefix=redis_limiter)
    assert other_process.backend == "redis"
    assert not other_process.check(f"chat:v:{visitor}", Limit(2, 60)).allowed
    assert _suggest(app.test_client(), "203.0.113.53").status_code == 200


def _hand_off(client: Any, address: str, n: int) -> Any:
    client.post("/chat/messages", data={"message": f"I need a person about my order {n}"},
                **_from(address))
    conversation = db.session.scalars(
        select(Conversation).order_by(Conversation.id.desc())).first()
    assert conversation is not None
    return client.post(f"/chat/{conversation.id}/handoff", headers=HTMX, data={
        "subject": f"Order {n} never arrived", "description": "Tracking stopped last week.",
        "email": f"buyer{n}@example.com", "name": "Buyer"}, **_from(address))


def test_anonymous_hand_offs_are_limited_and_the_draft_is_kept(app: Any, client: Any) -> None:
    app.config["TICKET_LIMIT_PER_SESSION"] = 2
    assert [_hand_off(client, "203.0.113.60", n).status_code for n in range(2)] == [200, 200]
    page = _over_the_limit(_hand_off(client, "203.0.113.60", 2))
    assert "several tickets in a short time" in page and "Order 2 never arrived" in page
    assert db.session.scalar(select(func.count()).select_from(Ticket)) == 2
    assert _hand_off(app.test_client(), "203.0.113.61", 3).status_code == 200


def test_the_browser_shows_the_wait_message_and_keeps_the_draft(app: Any, page: Any,
                                                                live_server: str) -> None:
    from playwright.sync_api import expect

    from tests.chat.test_browser import say

    app.config["CHAT_LIMIT_PER_SESSION"] = 1
    page.goto(live_server + "/")
    say(page, QUESTION, "answer")
    page.fill("#chat-input", "And how do I change my email?")
    page.get_by_role("button", name="Send").click()
    # htmx leaves error answers unswapped unless told: the 429 fragment must reach the page.
    expect(page.get_by_text("faster than I can answer")).to_be_visible()
    expect(page.locator("#chat-input")).to_have_value("And how do I change my email?")
