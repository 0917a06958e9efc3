"""E-mail verification: an address is a claim until its owner opens the link mailed to it."""

from __future__ import annotations

import time

import pytest

from portal.accounts import services
from portal.accounts.cli import ensure_demo_users
from portal.accounts.models import Role
from portal.extensions import db
from portal.kb import services as kb_services
from tests.accounts.conftest import link_in

NEW_CUSTOMER = {"name": "Dana Homeowner", "email": "dana@example.com",
                "password": "warm-house-2026", "confirm": "warm-house-2026"}


@pytest.fixture
def app_overrides():
    return {"VERIFY_RESEND_LIMIT": 2}


def registered(client):
    assert client.post("/register", data=NEW_CUSTOMER).status_code == 302
    user = services.find_user_by_email(NEW_CUSTOMER["email"])
    assert user is not None
    return user


def test_a_new_registration_is_unverified_and_gets_a_link(client, outbox):
    user = registered(client)
    assert not services.is_verified(user)
    assert kb_services.visible_audiences(user) == ("public",)
    (message,) = outbox(to=user.email)
    assert "/account/verify/" in message.get_content()
    page = client.get("/account").get_data(as_text=True)
    assert "Not verified" in page and "Send the link again" in page


def test_opening_the_link_verifies_the_address(app, client, outbox):
    user = registered(client)
    link = link_in(outbox(to=user.email)[0], "/account/verify/")
    client.post("/logout")
    # The link is the proof, so it works in any browser, signed in or not.
    response = app.test_client().get(link)
    assert response.status_code == 200
    assert "verified" in response.get_data(as_text=True)
    db.session.expire_all()
    user = services.get_user(user.id)
    assert services.is_verified(user)
    assert "customers" in kb_services.visible_audiences(user)
    assert app.test_client().get(link).status_code == 200  # opening it twice is harmless


def test_a_link_for_an_address_the_account_no_longer_has_is_refused(client, outbox):
    user = registered(client)
    link = link_in(outbox(to=user.email)[0], "/account/verify/")
    user.email = "someone-else@example.com"
    db.session.commit()
    response = client.get(link)
    assert response.status_code == 400
    db.session.expire_all()
    assert not services.is_verified(services.get_user(user.id))


def test_a_forged_or_expired_link_is_a_clear_message(client, outbox, monkeypatch):
    user = registered(client)
    link = link_in(outbox(to=user.email)[0], "/account/verify/")
    forged = client.get(link[:-4] + "AAAA")
    assert forged.status_code == 400 and "not valid" in forged.get_data(as_text=True)
    four_days_later = time.time() + 4 * 86400
    monkeypatch.setattr(time, "time", lambda: four_days_later)
    expired = client.get(link)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    monkeypatch.undo()
    db.session.expire_all()
    assert not services.is_verified(services.get_user(user.id))


def test_the_link_can_be_sent_again_a_few_times(client, outbox):
    user = registered(client)
    for _ in range(2):
        assert client.post("/account/verify").status_code == 302
    limited = client.post("/account/verify")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert len(outbox(to=user.email)) == 3  # the registration's and two more
    newest = link_in(outbox(to=user.email)[-1], "/account/verify/")
    assert client.get(newest).status_code == 200


def test_a_verified_account_gets_no_button(client, login_as):
    login_as(Role.CUSTOMER)
    page = client.get("/account").get_data(as_text=True)
    assert "Not verified" not in page and "Send the link again" not in page
    assert client.post("/account/verify").status_code == 302  # nothing to do, no mail


def test_staff_keep_their_audiences_unverified(make_user):
    agent = make_user(Role.AGENT, verified=False)
    assert "internal" in kb_services.visible_audiences(agent)


def test_accounts_made_by_the_cli_and_the_demo_are_verified(app, runner):
    result = runner.invoke(args=["users", "create", "--email", "cli@example.com", "--name",
                                 "Cli Person", "--password", "cli-password-9"])
    assert result.exit_code == 0, result.output
    ensure_demo_users()
    for address in ("cli@example.com", "customer@example.com", "agent@example.com"):
        user = services.find_user_by_email(address)
        assert user is not None and services.is_verified(user), address
