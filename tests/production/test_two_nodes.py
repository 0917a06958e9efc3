"""Two `portal serve` nodes on one PostgreSQL, one Meilisearch and one Redis act as one portal."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import requests

from bench.stack import PORTAL
from tests.production.conftest import REDIS_URL, Stack, Visitor, wait_for

# Real nodes share a PostgreSQL database: these run in the PostgreSQL pass only.
pytestmark = [pytest.mark.slow, pytest.mark.postgresql_only]


@pytest.fixture(scope="module")
def nodes(stack: Stack) -> Iterator[tuple[Any, Any]]:
    limits = {"CHAT_LIMIT_PER_SESSION": 4}
    a, b = stack.node("a", **limits), stack.node("b", **limits)
    a.wait_ready()
    b.wait_ready()
    yield a, b
    a.stop()
    b.stop()


def _search_finds(visitor: Visitor, node: Any, query: str, slug: str) -> bool:
    page = visitor.get(node, "/kb/search", params={"q": query},
                       headers={"HX-Request": "true", "HX-Target": "search-results"})
    # Hits link through the click-tracking redirect: /kb/search/open?slug=...
    return page.status_code == 200 and f"slug={slug}&" in page.text.replace("&amp;", "&")


def test_create_key_makes_a_scoped_key_from_the_master_key(stack: Stack) -> None:
    env = {**os.environ, **stack.env(), "MEILI_INDEX_PREFIX": "elsewhere"}
    made = subprocess.run([str(PORTAL), "meili", "create-key", "--url", stack.meili.url,
                           "--master-key", stack.meili.master_key],
                          env=env, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().removeprefix("MEILI_API_KEY=")
    described = requests.get(f"{stack.meili.url}/keys/{key}", timeout=5,
                             headers={"Authorization": f"Bearer {stack.meili.master_key}"}).json()
    assert described["indexes"] == ["elsewhere_*"]
    assert "keys.create" not in described["actions"] and "*" not in described["actions"]

    wrong = subprocess.run([str(PORTAL), "meili", "create-key", "--url", stack.meili.url,
                            "--master-key", "not-the-master-key"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1
    assert "Meilisearch refused: The provided API key is invalid." in wrong.stderr


def test_the_nodes_use_a_meilisearch_key_scoped_to_their_indexes(stack: Stack, nodes) -> None:
    a, _ = nodes
    assert "MEILI_MASTER_KEY" not in a.env and a.env["MEILI_API_KEY"]
    assert a.health()["search"]["ok"] is True
    key = {"Authorization": f"Bearer {a.env['MEILI_API_KEY']}"}
    # The key cannot manage keys nor touch another application's index.
    assert requests.get(f"{stack.meili.url}/keys", headers=key, timeout=5).status_code == 403
    other = requests.post(f"{stack.meili.url}/indexes", json={"uid": "someone_else"},
                          headers=key, timeout=5)
    assert other.status_code == 403
    # The index rebuild (create, fill, swap, drop) works with it.
    rebuilt = subprocess.run([str(PORTAL), "kb", "reindex"], env={**os.environ, **a.env},
                             capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Swapped in a fresh index" in rebuilt.stdout
    assert "The chatbot's passages are up to date." in rebuilt.stdout


def test_an_editors_save_on_one_node_is_found_by_search_on_the_other_within_a_second(
    stack: Stack, nodes
) -> None:
    a, b = nodes
    editor = Visitor()
    editor.login(a, "editor@example.com")
    word = f"quokka{secrets.token_hex(3)}"
    slug = f"pairing-the-{word}-sensor"
    saved = editor.post(a, "/kb/editor/new", {
        "title": f"Pairing the {word} sensor", "slug": slug, "category": "account",
        "tags": "", "summary": "Pair the new room sensor with your thermostat.",
        "status": "published", "audience": "public",
        "body": f"Hold the button on the {word} sensor for five seconds.\n\n## Check it\n"
                "The light blinks twice when it is paired.\n",
    })
    assert saved.status_code == 302, saved.text[:500]
    saved_at = time.monotonic()

    reader = Visitor("203.0.113.8")
    elapsed = wait_for(lambda: _search_finds(reader, b, word, slug), timeout=5,
                       what="the new article in node b's search")
    assert time.monotonic() - saved_at <= 1.0, f"found on node b only after {elapsed:.2f} s"
    assert reader.get(b, f"/kb/{slug}").status_code == 200


def _new_unassigned_ticket(stack: Stack, customer: Visitor, node: Any, n: int) -> int:
    created = customer.post(node, "/tickets/new", {
        "subject": f"Heating schedule skips Mondays ({n})",
        "description": "Since the update the Monday program never starts.",
        "category": "troubleshooting", "priority": "normal",
    })
    assert created.status_code == 302, created.text[:500]
    number = int(re.search(r"/tickets/(\d+)", created.headers["Location"]).group(1))
    # Routing may hand a new ticket to someone; the race is about an unassigned one.
    stack.sql("UPDATE ticket_ticket SET assignee_id = NULL WHERE number = :n", n=number)
    return number


def test_a_ticket_claimed_on_both_nodes_at_once_is_claimed_once(stack: Stack, nodes) -> None:
    a, b = nodes
    customer = Visitor("203.0.113.9")
    customer.login(a, "customer@example.com")
    first, second = Visitor("203.0.113.10"), Visitor("203.0.113.11")
    first.login(a, "load-agent-0@example.com", "load-password-123")
    second.login(b, "load-agent-1@example.com", "load-password-123")

    for round_number in range(6):
        number = _new_unassigned_ticket(stack, customer, a, round_number)
        start = threading.Barrier(2)
        answers: dict[str, str] = {}

        def claim(name: str, agent: Visitor, node: Any, number: int = number,
                  start: threading.Barrier = start, answers: dict[str, str] = answers) -> None:
            start.wait()
            # As the queue page sends it: htmx, answered with the refreshed panel.
            answers[name] = agent.post(node, f"/tickets/{number}/claim",
                                       headers={"HX-Request": "true"}).text

        threads = [threading.Thread(target=claim, args=("a", first, a)),
                   threading.Thread(target=claim, args=("b", second, b))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        won = {name for name, text in answers.items() if "You claimed this ticket." in text}
        lost = {name for name, text in answers.items() if "claimed this ticket first" in text}
        assert len(won) == 1 and len(lost) == 1, answers
        winner = "load-agent-0@example.com" if won == {"a"} else "load-agent-1@example.com"
        rows = stack.sql(
            "SELECT u.email FROM ticket_ticket t JOIN user_account u ON u.id = t.assignee_id "
            "WHERE t.number = :n", n=number)
        assert [r.email for r in rows] == [winner]
        claims = stack.sql(
            "SELECT count(*) AS n FROM ticket_audit a JOIN ticket_ticket t ON t.id = a.ticket_id "
            "WHERE t.number = :n AND a.action = 'claimed'", n=number)
        assert claims[0].n == 1


def test_a_chat_started_on_one_node_continues_on_the_other(stack: Stack, nodes) -> None:
    a, b = nodes
    visitor = Visitor("203.0.113.12")
    visitor.get(a, "/")
    first = visitor.post(a, "/chat/messages", {"message": "How do I reset my password?"})
    assert first.status_code == 302

    home = visitor.get(b, "/")
    assert "How do I reset my password?" in home.text
    conversation = re.search(r'name="conversation_id" value="(\d+)"', home.text).group(1)
    second = visitor.post(b, "/chat/messages", {
        "message": "And if the reset email never arrives?", "conversation_id": conversation,
    })
    assert second.status_code == 302

    page = visitor.get(a, "/").text
    assert page.index("How do I reset my password?") < page.index("reset email never arrives")
    rows = stack.sql("SELECT role, kind FROM chat_message WHERE conversation_id = :c ORDER BY id",
                     c=int(conversation))
    assert [r.role for r in rows] == ["user", "bot", "user", "bot"]
    assert "pending" not in {r.kind for r in rows}


def test_rate_limits_hold_across_both_nodes(stack: Stack, nodes) -> None:
    a, b = nodes
    attacker = Visitor("203.0.113.13")
    # Five wrong passwords per account are allowed (LOGIN_LIMIT_PER_ACCOUNT), spread over
    # both nodes; each node alone saw fewer than five.
    for attempt in range(5):
        node = (a, b)[attempt % 2]
        attacker.get(node, "/login")
        wrong = attacker.post(node, "/login", {"email": "customer2@example.com",
                                               "password": f"guess-{attempt}"})
        assert wrong.status_code == 422
    attacker.get(b, "/login")
    blocked = attacker.post(b, "/login", {"email": "customer2@example.com",
                                          "password": "demo-password-1"})
    assert blocked.status_code == 429
    assert "Too many sign-in attempts" in blocked.text

    chatter = Visitor("203.0.113.14")
    chatter.get(a, "/")
    answered = [chatter.post((a, b)[n % 2], "/chat/messages", {"message": f"Question {n} about "
                "my thermostat schedule"}).status_code for n in range(5)]
    assert answered == [302, 302, 302, 302, 429]

    counts = redis.Redis.from_url(REDIS_URL)
    assert counts.exists(f"{stack.prefix}:rl:login:acct:customer2@example.com")
