"""An anonymous requester's address is a claim until the link mailed to it is opened.

Anyone can type a customer's address into the new-ticket form, the chat hand-off or the
From header of a mail: none of that may show the forger the thread, put the ticket in
that customer's "My tickets", or look verified to the agent.
"""

from __future__ import annotations

import re

from portal.accounts.models import Role
from portal.clock import utcnow
from portal.extensions import db
from portal.tickets import services

from .conftest import actor, fresh, mailed_tracking_link
from .mail_support import message, tickets

AGENT_SECRET = "Your account recovery code is 4711-PLUM."


def _customer_with_verified_address(make_user, email: str):
    customer = make_user(Role.CUSTOMER, email=email, name="Casey Customer")
    customer.email_verified_at = utcnow()
    db.session.commit()
    return customer


def _number_on(page: str) -> int:
    found = re.search(r"#(\d{5,})", page)
    assert found, page[:2000]
    return int(found.group(1))


def _queue_row(client, number: int) -> str:
    page = client.get("/tickets/queue?status=all").get_data(as_text=True)
    row = re.search(rf'<tr[^>]*data-number="{number}".*?</tr>', page, re.S)
    assert row, f"#{number} is not in the queue"
    return row.group(0)


def test_a_forged_ticket_shows_the_forger_nothing_until_the_mailbox_owner_opens_the_link(
    app, client, make_user, login, agent
):
    victim = _customer_with_verified_address(make_user, "casey@example.com")
    forged = client.post("/tickets/new", data={
        "subject": "Please send me my recovery code", "description": "I lost my phone.",
        "email": "casey@example.com", "name": "Casey"})
    assert forged.status_code == 302
    assert "/tickets/track/" not in forged.location
    landing = client.get(forged.location)
    assert landing.status_code == 200
    text = landing.get_data(as_text=True)
    assert "check your inbox" in text.lower() and "casey@example.com" in text
    assert "/tickets/track/" not in text
    number = _number_on(text)

    services.reply(fresh(number).id, AGENT_SECRET, actor=actor(agent))
    # The real customer's mailbox gets the reply; the forger's browser sees none of it.
    assert AGENT_SECRET not in client.get(forged.location).get_data(as_text=True)
    assert client.get(f"/tickets/{number}").status_code == 302  # sign-in first
    assert fresh(number).requester_id is None
    assert fresh(number).requester_verified_at is None

    owner = app.test_client()
    login(victim, the_client=owner)
    assert "Please send me my recovery code" not in owner.get("/tickets").get_data(as_text=True)
    assert owner.get(f"/tickets/{number}").status_code == 404

    link = mailed_tracking_link(app, "casey@example.com")
    opened = owner.get(link).get_data(as_text=True)
    assert AGENT_SECRET in opened
    ticket = fresh(number)
    assert ticket.requester_verified_at is not None and ticket.requester_id == victim.id
    assert "Please send me my recovery code" in owner.get("/tickets").get_data(as_text=True)
    assert AGENT_SECRET in owner.get(f"/tickets/{number}").get_data(as_text=True)


def test_the_page_after_submitting_is_only_for_the_browser_that_sent_the_ticket(app, client):
    sent = client.post("/tickets/new", data={"subject": "Boiler noise", "description": "Loud.",
                                             "email": "pat@example.com", "name": "Pat"})
    assert client.get(sent.location).status_code == 200
    assert app.test_client().get(sent.location).status_code == 404


def test_the_queue_and_ticket_page_mark_an_address_unverified_until_the_link_is_opened(
    app, client, login, make_user, agent, new_ticket
):
    member = make_user(Role.CUSTOMER)
    signed_in = new_ticket(member)
    claimed = new_ticket(None, requester_email="claimed@example.com")
    login(agent)
    assert "unverified" in _queue_row(client, claimed.number)
    assert "unverified" not in _queue_row(client, signed_in.number)
    page = client.get(f"/tickets/{claimed.number}").get_data(as_text=True)
    assert "unverified" in page and "no account" in page

    app.test_client().get(mailed_tracking_link(app, "claimed@example.com"))
    assert "unverified" not in _queue_row(client, claimed.number)
    page = client.get(f"/tickets/{claimed.number}").get_data(as_text=True)
    assert "unverified" not in page and "no account" in page


def test_mail_in_a_customers_name_waits_for_the_link_before_it_is_theirs(
    app, listener, make_user, login
):
    victim = _customer_with_verified_address(make_user, "casey@example.com")
    listener.send(message(sender="Casey <casey@example.com>", subject="Change my address"),
                  envelope_from="casey@example.com")
    [ticket] = tickets()
    assert ticket.requester_id is None and ticket.requester_verified_at is None
    owner = app.test_client()
    login(victim, the_client=owner)
    assert "Change my address" not in owner.get("/tickets").get_data(as_text=True)

    owner.get(mailed_tracking_link(app, "casey@example.com"))
    assert fresh(ticket.number).requester_id == victim.id
    assert "Change my address" in owner.get("/tickets").get_data(as_text=True)


def test_an_unverified_account_does_not_collect_tickets_sent_in_its_address(
    app, client, make_user, login
):
    # Whoever registered this address never proved it is theirs: the mailbox owner's
    # ticket must not land in that account when the owner opens their link.
    squatter = make_user(Role.CUSTOMER, email="dana@example.com", verified=False)
    sent = client.post("/tickets/new", data={"subject": "Warranty claim", "description": "Hi",
                                             "email": "dana@example.com", "name": "Dana"})
    number = _number_on(client.get(sent.location).get_data(as_text=True))
    app.test_client().get(mailed_tracking_link(app, "dana@example.com"))
    ticket = fresh(number)
    assert ticket.requester_verified_at is not None and ticket.requester_id is None
    other = app.test_client()
    login(squatter, the_client=other)
    assert "Warranty claim" not in other.get("/tickets").get_data(as_text=True)


def test_a_signed_in_requester_is_verified_when_the_ticket_is_made(make_user, new_ticket):
    ticket = new_ticket(make_user(Role.CUSTOMER))
    assert ticket.requester_verified_at is not None
