"""The agent queue and ticket page over HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import services
from portal.tickets.models import Ticket, TicketStatus

from .conftest import actor, fresh

HX = {"HX-Request": "true"}


def agent_actions(number: int) -> list[tuple[str, str]]:
    base = f"/tickets/{number}"
    return [("POST", f"{base}/{name}") for name in
            ("claim", "assign", "note", "status", "priority", "link")] + [
        ("GET", f"{base}/kb-search?q=wifi"), ("GET", f"{base}/macro?name=ask-for-details"),
        ("GET", "/tickets/queue"), ("POST", "/tickets/queue/bulk")]


def test_customer_posting_agent_actions_gets_403(client, login_as, new_ticket, agent):
    me = login_as(Role.CUSTOMER)
    own = new_ticket(me)
    for method, url in agent_actions(own.number):
        response = client.open(url, method=method, data={
            "status": "solved", "priority": "urgent", "body": "x", "assignee_id": str(me.id),
            "ticket_id": str(own.id), "action": "status", "slug": "reset-password"})
        assert response.status_code == 403, (method, url)
    ticket = fresh(own.number)
    assert (ticket.status, ticket.priority, ticket.assignee_id) == ("new", "normal", None)


def test_queue_sorts_breached_first_and_filters(client, login_as, customer, new_ticket):
    me = login_as(Role.AGENT)
    calm = new_ticket(customer, subject="Calm low ticket", priority="low")
    late = new_ticket(customer, subject="Late normal ticket")
    urgent = new_ticket(customer, subject="Urgent new ticket", priority="urgent",
                        category="billing")
    done = new_ticket(customer, subject="Solved one")
    services.change_status(done.id, "solved", actor=actor(me))
    db.session.execute(update(Ticket).where(Ticket.id == late.id).values(
        next_due=utcnow() - timedelta(hours=1), first_response_due=utcnow() - timedelta(hours=1)))
    db.session.commit()

    page = client.get("/tickets/queue").get_data(as_text=True)
    order = [page.index(s) for s in ("Late normal", "Urgent new", "Calm low")]
    assert order == sorted(order) and "Solved one" not in page
    assert "1 breached" in page and "⚠ breached" in page

    breached = client.get("/tickets/queue?due=breached", headers=HX).get_data(as_text=True)
    assert "Late normal" in breached and "Urgent new" not in breached
    assert "<html" not in breached  # htmx gets the fragment only
    assert "Urgent new" in client.get("/tickets/queue?priority=urgent").get_data(as_text=True)
    by_topic = client.get("/tickets/queue?category=billing").get_data(as_text=True)
    assert "Urgent new" in by_topic and "Calm low" not in by_topic
    solved = client.get("/tickets/queue?status=solved").get_data(as_text=True)
    assert "Solved one" in solved and "Calm low" not in solved
    found = client.get(f"/tickets/queue?q=%23{calm.number}").get_data(as_text=True)
    assert "Calm low" in found and "Late normal" not in found
    assert "Late normal" in client.get("/tickets/queue?q=LATE").get_data(as_text=True)
    services.claim(urgent.id, actor=actor(me))
    mine = client.get("/tickets/queue?assignee=me").get_data(as_text=True)
    assert "Urgent new" in mine and "Calm low" not in mine
    unassigned = client.get("/tickets/queue?assignee=none").get_data(as_text=True)
    assert "Urgent new" not in unassigned and "Calm low" in unassigned
    # Nonsense filters fall back to defaults instead of failing.
    assert client.get("/tickets/queue?status=bogus&page=x&priority=zzz").status_code == 200


def test_claim_race_loser_is_told(client, login_as, make_user, customer, new_ticket):
    login_as(Role.AGENT, name="Late Larry")
    ticket = new_ticket(customer)
    services.claim(ticket.id, actor=actor(make_user(Role.AGENT, name="Quick Quinn")))
    response = client.post(f"/tickets/{ticket.number}/claim", headers=HX)
    assert "Quick Quinn claimed this ticket first" in response.get_data(as_text=True)
    plain = client.post(f"/tickets/{ticket.number}/claim", follow_redirects=True)
    assert "Quick Quinn claimed this ticket first" in plain.get_data(as_text=True)
    assert fresh(ticket.number).assignee_id != actor(customer).id


def test_agent_works_a_ticket_in_place(client, login_as, customer, new_ticket):
    me = login_as(Role.AGENT)
    ticket = new_ticket(customer, requester_name=None)
    base = f"/tickets/{ticket.number}"
    claimed = client.post(f"{base}/claim", headers=HX).get_data(as_text=True)
    assert 'id="ticket-panel"' in claimed and "<html" not in claimed and me.name in claimed
    noted = client.post(f"{base}/note", data={"body": "Checked logs"}, headers=HX)
    assert "Internal note" in noted.get_data(as_text=True)
    replied = client.post(f"{base}/reply", data={"body": "Try a reboot", "then_status": "pending"},
                          headers=HX).get_data(as_text=True)
    assert "Try a reboot" in replied and 'status-pending' in replied
    changed = client.post(f"{base}/priority", data={"priority": "urgent"}, headers=HX)
    assert "Priority is now urgent" in changed.get_data(as_text=True)
    solved = client.post(f"{base}/status", data={"status": "solved", "from_status": "pending"},
                         headers=HX)
    assert "Status is now solved" in solved.get_data(as_text=True)
    illegal = client.post(f"{base}/status", data={"status": "new"}, headers=HX)
    assert "A solved ticket cannot become new" in illegal.get_data(as_text=True)
    assert fresh(ticket.number).status == TicketStatus.SOLVED
    plain = client.post(f"{base}/status", data={"status": "new"})
    assert plain.status_code == 422


def test_agent_one_megabyte_reply_is_refused_in_place(client, login_as, customer, new_ticket):
    login_as(Role.AGENT)
    ticket = new_ticket(customer)
    response = client.post(f"/tickets/{ticket.number}/reply", data={"body": "z" * 1_048_576},
                           headers=HX)
    text = response.get_data(as_text=True)
    assert "at most 20,000 characters" in text and "z" * 1000 in text
    assert services.thread(ticket, include_notes=True) == []


def test_canned_response_fills_placeholders_safely(client, login_as, make_user, new_ticket,
                                                   app, tmp_path, kb_articles):
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "hello.md").write_text(
        "---\ntitle: Hello there\n---\nHi {{customer_name}}, about #{{ticket_number}}:\n"
        "{{article_links}}\n{{ 7 * 7 }} {% if true %}x{% endif %} — {{agent_name}}\n")
    app.config["TICKET_MACROS_DIR"] = str(macros)
    me = login_as(Role.AGENT, name="Alex Agent")
    requester = make_user(Role.CUSTOMER, name="Dana {{ticket_number}} <b>")
    ticket = new_ticket(requester, subject="Password reset email never arrives",
                        article_slugs=["error-codes"])
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Hello there" in page
    # The bot's article did not help: the agent is asked to pick articles, not given it.
    fragment = client.get(f"/tickets/{ticket.number}/macro?name=hello",
                          headers=HX).get_data(as_text=True)
    assert "Pick them first" in fragment and "error-codes" not in fragment
    # Articles for the subject are offered to link, from the help center's search.
    assert 'id="macro-kb-results"' in fragment and 'name="slug" value="' in fragment
    assert 'name="body" rows="7"></textarea>' in fragment
    client.post(f"/tickets/{ticket.number}/link", data={"slug": "reset-password"}, headers=HX)
    fragment = client.get(f"/tickets/{ticket.number}/macro?name=hello",
                          headers=HX).get_data(as_text=True)
    assert "error-codes" not in fragment
    assert f"Hi Dana {{{{ticket_number}}}} &lt;b&gt;, about #{ticket.number}:" in fragment
    assert "[Reset your password](http://localhost/kb/reset-password)" in fragment
    assert "{{ 7 * 7 }} {% if true %}x{% endif %}" in fragment and me.name in fragment
    missing = client.get(f"/tickets/{ticket.number}/macro?name=../../etc/passwd", headers=HX)
    assert "That canned response does not exist" in missing.get_data(as_text=True)


def test_agent_sees_transcript_bot_articles_and_links_one(client, login_as, customer,
                                                         new_ticket, kb_articles):
    login_as(Role.AGENT)
    ticket = new_ticket(customer, source="chat", transcript="You: my wifi drops\nBot: try...",
                        article_slugs=["thermostat-offline-wifi"])
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "my wifi drops" in page and "The bot tried" in page
    results = client.get(f"/tickets/{ticket.number}/kb-search?q=refund",
                         headers=HX).get_data(as_text=True)
    assert "refund-policy" in results
    linked = client.post(f"/tickets/{ticket.number}/link", data={"slug": "refund-policy"},
                         headers=HX).get_data(as_text=True)
    assert "Article linked" in linked
    assert fresh(ticket.number).linked_article_slugs == ["refund-policy"]
    bogus = client.post(f"/tickets/{ticket.number}/link", data={"slug": "no-such-thing"},
                        headers=HX).get_data(as_text=True)
    assert "That article does not exist" in bogus


def test_bulk_assign_and_status(client, login_as, make_user, customer, new_ticket):
    login_as(Role.AGENT)
    other = make_user(Role.AGENT, name="Bulk Bea")
    first, second = new_ticket(customer), new_ticket(customer)
    response = client.post("/tickets/queue/bulk", data={
        "ticket_id": [str(first.id), str(second.id)], "action": "assign",
        "assignee_id": str(other.id)}, follow_redirects=True)
    assert "Updated 2 ticket(s)" in response.get_data(as_text=True)
    assert {fresh(t.number).assignee_id for t in (first, second)} == {other.id}
    services.close(second.id, actor=actor(customer))
    response = client.post("/tickets/queue/bulk", data={
        "ticket_id": [str(first.id), str(second.id)], "action": "status", "status": "solved"},
        follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "Updated 1 ticket(s)" in text and "closed ticket cannot become solved" in text
    empty = client.post("/tickets/queue/bulk", data={"action": "status"}, follow_redirects=True)
    assert "Select at least one ticket" in empty.get_data(as_text=True)


def test_admin_passes_agent_routes(client, login_as, customer, new_ticket):
    login_as(Role.ADMIN)
    ticket = new_ticket(customer)
    assert client.get("/tickets/queue").status_code == 200
    assert client.post(f"/tickets/{ticket.number}/claim").status_code == 302
    assert db.session.scalar(select(Ticket.assignee_id)) is not None


def test_agent_reads_the_chat_as_a_conversation_with_its_last_turns_first(
        client, login_as, customer, new_ticket):
    login_as(Role.AGENT)
    lines = []
    for n in range(1, 7):
        lines += [f"Customer: question {n}", f"Bot: answer {n} [1]",
                  f"    [1] Reset your password — Request a link (/kb/reset-password#n{n})"]
    ticket = new_ticket(customer, source="chat", transcript="\n".join(lines))
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Chat before the ticket" in page and "(12 messages)" in page
    assert "<pre class=\"transcript\">" not in page
    earlier, _, latest = page.partition("Show all 12 messages")[2].partition("</details>")
    assert "question 1" in earlier and "question 4" in earlier
    assert "question 5" in latest and "answer 6" in latest and "question 4" not in latest
    assert 'href="/kb/reset-password#n6"' in latest
    assert "Reset your password — Request a link" in latest


def test_a_customer_line_dressed_as_a_citation_links_nowhere(client, login_as, customer,
                                                            new_ticket):
    login_as(Role.AGENT)
    transcript = "\n".join(["Customer: see this", "    [1] Reset help (//evil.example/x)",
                             "    [2] Other help (/\\evil.example)", "Bot: try the steps [1]",
                             "    [1] Reset your password (/kb/reset-password)"])
    ticket = new_ticket(customer, source="chat", transcript=transcript)
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Reset help" in page and "evil.example" not in page.split("Reset help")[1][:200]
    assert 'href="//evil' not in page and 'href="/\\evil' not in page
    assert 'href="/kb/reset-password"' in page
