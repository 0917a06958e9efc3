"""The customer's side over HTTP: access, the form, replies, tracking links, CSAT."""

from __future__ import annotations

import itsdangerous.timed
import pytest
from sqlalchemy import select

from portal.accounts.models import Role
from portal.events import Event, EventKind
from portal.extensions import db
from portal.tickets import links, services
from portal.tickets.models import Ticket, TicketStatus

from .conftest import actor, fresh, mailed_tracking_link


def customer_routes(number: int) -> list[tuple[str, str]]:
    base = f"/tickets/{number}"
    return [("GET", base), ("POST", f"{base}/reply"), ("POST", f"{base}/reopen"),
            ("POST", f"{base}/close"), ("GET", f"{base}/rate"), ("POST", f"{base}/rate")]


def test_another_customers_ticket_is_404_on_every_route(client, login_as, make_user, new_ticket):
    owner = make_user(Role.CUSTOMER)
    ticket = new_ticket(owner)
    login_as(Role.CUSTOMER)
    for method, url in customer_routes(ticket.number):
        response = client.open(url, method=method, data={"body": "hi", "score": "5"})
        assert response.status_code == 404, (method, url)
    # Same answer for a ticket that does not exist: nothing leaks.
    for method, url in customer_routes(999_999):
        assert client.open(url, method=method, data={}).status_code == 404
    assert services.thread(ticket, include_notes=True) == []
    assert fresh(ticket.number).status == TicketStatus.NEW


def test_signed_out_visitors_are_sent_to_sign_in(client, customer, new_ticket):
    ticket = new_ticket(customer)
    for method, url in customer_routes(ticket.number) + [("GET", "/tickets")]:
        response = client.open(url, method=method)
        assert response.status_code == 302 and "/login" in response.location


def test_my_tickets_lists_status_and_last_update(client, login_as, make_user, new_ticket):
    me = login_as(Role.CUSTOMER)
    mine = new_ticket(me, subject="My heating")
    new_ticket(make_user(Role.CUSTOMER), subject="Someone else's order")
    page = client.get("/tickets").get_data(as_text=True)
    assert "My heating" in page and f"#{mine.number}" in page and ">new<" in page
    assert "Someone else" not in page


def test_form_records_open_suggestions_and_submit(client, login_as, kb_articles):
    user = login_as(Role.CUSTOMER)
    page = client.get("/tickets/new").get_data(as_text=True)
    form_id = page.split('name="form_id" value="')[1].split('"')[0]
    [opened] = db.session.scalars(select(Event).where(Event.kind == "ticket_form_opened"))
    assert opened.data == {"form_id": form_id} and opened.user_id == user.id

    fragment = client.get(
        "/tickets/new/suggestions", query_string={"subject": "reset my password",
                                                  "form_id": form_id},
        headers={"HX-Request": "true"},
    ).get_data(as_text=True)
    assert "Reset your password" in fragment or "reset-password" in fragment
    [shown] = db.session.scalars(select(Event).where(Event.kind == "ticket_form_suggestions"))
    assert shown.data["form_id"] == form_id and "reset-password" in shown.data["article_slugs"]
    [search] = db.session.scalars(select(Event).where(Event.kind == "search"))
    assert search.data["source"] == "ticket_form"

    response = client.post("/tickets/new", data={
        "subject": "Cannot reset password", "description": "The email never arrives.",
        "priority": "high", "category": "account", "form_id": form_id})
    assert response.status_code == 302
    ticket = db.session.scalar(select(Ticket))
    assert response.location.endswith(f"/tickets/{ticket.number}")
    assert (ticket.form_id, ticket.priority, ticket.category) == (form_id, "high", "account")
    [created] = db.session.scalars(select(Event).where(Event.kind == "ticket_created"))
    assert created.data["form_id"] == form_id


def test_form_errors_keep_what_was_typed(client, login_as):
    login_as(Role.CUSTOMER)
    response = client.post("/tickets/new", data={
        "subject": "", "description": "Long story here", "priority": "whenever",
        "form_id": "abcdefghij"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Please give your ticket a subject." in page and "Long story here" in page
    assert db.session.scalar(select(Ticket.id)) is None


def test_anonymous_form_needs_an_email_and_mails_the_tracking_link(client, app):
    bad = client.post("/tickets/new", data={"subject": "Help", "description": "x",
                                            "email": "nope"})
    assert bad.status_code == 422
    assert "email address where we can reach you" in bad.get_data(as_text=True)
    good = client.post("/tickets/new", data={"subject": "Help", "description": "x",
                                             "email": "pat@example.com", "name": "Pat"})
    assert good.status_code == 302 and "/tickets/sent/" in good.location
    landing = client.get(good.location).get_data(as_text=True)
    assert "Check your inbox" in landing and "pat@example.com" in landing
    page = client.get(mailed_tracking_link(app, "pat@example.com")).get_data(as_text=True)
    assert "Help" in page and "Pat" in page


def test_internal_notes_never_reach_the_customer(client, login_as, agent, new_ticket):
    me = login_as(Role.CUSTOMER)
    ticket = new_ticket(me)
    services.add_note(ticket.id, "SECRET: refund approved by finance", actor=actor(agent))
    services.reply(ticket.id, "We are checking with finance.", actor=actor(agent))
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "We are checking with finance." in page
    assert "SECRET" not in page and "Internal note" not in page


def test_one_megabyte_reply_gets_a_clear_message_and_is_kept(client, login_as, new_ticket):
    me = login_as(Role.CUSTOMER)
    ticket = new_ticket(me)
    huge = "log line\n" * 116_509  # ~1 MB
    response = client.post(f"/tickets/{ticket.number}/reply", data={"body": huge})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "can be at most 20,000 characters" in page
    assert page.count("log line") > 100_000  # the text is still in the box
    assert services.thread(ticket, include_notes=True) == []


def test_reply_reopen_close_from_the_page(client, login_as, agent, new_ticket):
    me = login_as(Role.CUSTOMER)
    ticket = new_ticket(me)
    assert client.post(f"/tickets/{ticket.number}/reply",
                       data={"body": "More detail"}).status_code == 302
    services.change_status(ticket.id, "solved", actor=actor(agent))
    page = client.get(f"/tickets/{ticket.number}").get_data(as_text=True)
    assert "Reopen ticket" in page and "Rate our support" in page
    assert client.post(f"/tickets/{ticket.number}/reopen").status_code == 302
    assert fresh(ticket.number).status == TicketStatus.OPEN
    assert client.post(f"/tickets/{ticket.number}/close").status_code == 302
    assert fresh(ticket.number).status == TicketStatus.CLOSED
    again = client.post(f"/tickets/{ticket.number}/close")
    assert again.status_code == 422
    assert "already closed" in again.get_data(as_text=True)


def test_rating_link_from_email_only_shows_the_form(client, login_as, agent, new_ticket):
    me = login_as(Role.CUSTOMER)
    ticket = new_ticket(me)
    services.change_status(ticket.id, "solved", actor=actor(agent))
    shown = client.get(f"/tickets/{ticket.number}/rate?score=5")
    assert shown.status_code == 200 and 'value="5" checked' in shown.get_data(as_text=True)
    assert services.rating_for(ticket) is None  # a link scanner's GET records nothing
    posted = client.post(f"/tickets/{ticket.number}/rate", data={"score": "5",
                                                                 "comment": "Great"})
    assert posted.status_code == 302
    assert services.rating_for(ticket).score == 5
    assert "You rated this ticket 5 out of 5" in client.get(
        f"/tickets/{ticket.number}").get_data(as_text=True)


def test_forged_rating_without_csrf_is_refused(client, login_as, agent, new_ticket):
    me = login_as(Role.CUSTOMER)
    ticket = new_ticket(me)
    services.change_status(ticket.id, "solved", actor=actor(agent))
    response = client.post(f"/tickets/{ticket.number}/rate", data={"score": "1"}, csrf=False)
    assert response.status_code == 400
    assert services.rating_for(ticket) is None


# --- tracking links --------------------------------------------------------------------


def test_tracking_link_lets_anonymous_requester_follow_and_reply(client, agent, new_ticket):
    ticket = new_ticket(None)
    url = services.customer_url(ticket)
    services.add_note(ticket.id, "internal only", actor=actor(agent))
    page = client.get(url).get_data(as_text=True)
    assert ticket.subject in page and "internal only" not in page
    assert client.post(f"{url}/reply", data={"body": "Any news?"}).status_code == 302
    [message] = services.thread(ticket, include_notes=False)
    assert message.body == "Any news?" and message.author_name == "Robin Anon"


def test_tampered_tracking_link_is_refused_clearly(client, new_ticket):
    ticket = new_ticket(None)
    url = services.customer_url(ticket)
    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    for target in (tampered, f"{tampered}/rate"):
        response = client.get(target)
        assert response.status_code == 404
        assert "This tracking link is not valid" in response.get_data(as_text=True)
    assert client.post(f"{tampered}/reply", data={"body": "x"}).status_code == 404
    assert services.thread(ticket, include_notes=True) == []


def test_expired_tracking_link_says_so(client, app, new_ticket, monkeypatch):
    ticket = new_ticket(None)
    real_time = itsdangerous.timed.time.time
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: real_time() - 31 * 86400)
    token = links.make_token(ticket.id, ticket.requester_email)
    monkeypatch.undo()
    response = client.get(f"/tickets/track/{token}")
    assert response.status_code == 410
    assert "This tracking link has expired" in response.get_data(as_text=True)
    assert client.post(f"/tickets/track/{token}/close").status_code == 410
    assert fresh(ticket.number).status == TicketStatus.NEW


def test_tracking_link_for_one_ticket_does_not_open_another(client, new_ticket):
    first, second = new_ticket(None), new_ticket(None, requester_email="other@example.com")
    token = links.make_token(second.id, "anon@example.com")  # right signature, wrong owner
    assert client.get(f"/tickets/track/{token}").status_code == 404
    assert first.id != second.id


@pytest.mark.parametrize("score", ["0", "6", "x"])
def test_bad_rating_values(client, agent, new_ticket, score):
    ticket = new_ticket(None)
    services.change_status(ticket.id, "solved", actor=actor(agent))
    url = services.customer_url(ticket)
    response = client.post(f"{url}/rate", data={"score": score})
    assert response.status_code == 422
    assert "rating from 1 to 5" in response.get_data(as_text=True)
    assert db.session.scalar(select(Event).where(Event.kind == str(EventKind.CSAT))) is None
