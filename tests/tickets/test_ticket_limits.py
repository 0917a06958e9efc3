"""Anonymous tickets from the web form are limited per browser and per address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from portal.accounts.models import Role
from portal.extensions import db
from portal.tickets.models import Ticket


def _send(client: Any, address: str, n: int, **more: str) -> Any:
    return client.post("/tickets/new", environ_base={"REMOTE_ADDR": address}, data={
        "subject": f"Boiler fault {n}", "description": "It stops after a minute.",
        "email": f"owner{n}@example.com", "name": "Owner", **more})


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket)) or 0


def test_a_burst_of_anonymous_tickets_gets_429_and_another_address_goes_on(app, client):
    app.config["TICKET_LIMIT_PER_SESSION"] = 3
    assert [_send(client, "203.0.113.70", n).status_code for n in range(3)] == [302] * 3
    refused = _send(client, "203.0.113.70", 3)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    page = refused.get_data(as_text=True)
    assert "several tickets in a short time" in page
    assert 'value="Boiler fault 3"' in page and "owner3@example.com" in page  # nothing lost
    assert _count() == 3
    assert _send(app.test_client(), "203.0.113.71", 4).status_code == 302


def test_one_address_is_limited_across_browsers(app):
    app.config["TICKET_LIMIT_PER_IP"] = 2
    codes = [_send(app.test_client(), "203.0.113.72", n).status_code for n in range(3)]
    assert codes == [302, 302, 429]


def test_invalid_forms_and_signed_in_customers_are_not_counted(app, client, login_as):
    app.config.update(TICKET_LIMIT_PER_SESSION=1, TICKET_LIMIT_PER_IP=1)
    assert _send(client, "203.0.113.73", 0, email="not-an-address").status_code == 422
    assert _send(client, "203.0.113.73", 1).status_code == 302
    login_as(Role.CUSTOMER)
    assert [_send(client, "203.0.113.73", n).status_code for n in (2, 3)] == [302, 302]
