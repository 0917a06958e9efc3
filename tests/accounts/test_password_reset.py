"""Forgotten passwords: a mailed, signed, single-use link that expires."""

from __future__ import annotations

import re
import time

import pytest

from portal.accounts import services
from portal.accounts.models import Role
from portal.extensions import db
from tests.accounts.conftest import link_in
from tests.conftest import DEFAULT_PASSWORD

SAME_ANSWER = "If an account exists for that address, we have sent a link"
NEW_PASSWORD = "fresh-start-2027"


@pytest.fixture
def app_overrides():
    return {"PASSWORD_RESET_LIMIT_PER_ADDRESS": 3, "PASSWORD_RESET_LIMIT_PER_IP": 6,
            "LOGIN_LIMIT_PER_ACCOUNT": 3}


def without_csrf_tokens(response) -> str:
    # Each page carries a CSRF token signed with the time: the one part allowed to differ.
    return re.sub(r"[\w-]{30,}\.[\w-]+\.[\w-]{20,}", "", response.get_data(as_text=True))


def ask_for_link(client, address):
    return client.post("/password/forgot", data={"email": address})


def reset_link(client, outbox, user) -> str:
    assert ask_for_link(client, user.email).status_code == 200
    (message,) = outbox(to=user.email)
    return link_in(message, "/password/reset/")


def choose(client, link, password=NEW_PASSWORD, confirm=None):
    return client.post(link, data={"password": password, "confirm": confirm or password})


def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    client, make_user, outbox
):
    user = make_user()
    known = ask_for_link(client, user.email)
    unknown = ask_for_link(client, "nobody-here@example.com")
    assert known.status_code == unknown.status_code == 200
    assert SAME_ANSWER in known.get_data(as_text=True)
    assert without_csrf_tokens(known) == without_csrf_tokens(unknown)
    (message,) = outbox()
    assert message["To"] == user.email
    assert "/password/reset/" in message.get_content()


def test_the_link_sets_a_new_password_and_signs_in(app, client, make_user, outbox):
    user = make_user()
    link = reset_link(client, outbox, user)
    form = client.get(link)
    assert form.status_code == 200 and "New password" in form.get_data(as_text=True)
    response = choose(client, link)
    assert response.status_code == 302
    assert client.get("/account").status_code == 200
    db.session.expire_all()
    assert services.authenticate(user.email, NEW_PASSWORD) is not None
    assert services.authenticate(user.email, DEFAULT_PASSWORD) is None


def test_a_reset_ends_every_other_session_and_verifies_the_address(
    app, client, make_user, login, outbox
):
    user = make_user(verified=False)
    elsewhere = app.test_client()
    login(user, the_client=elsewhere)
    choose(client, reset_link(client, outbox, user))
    assert elsewhere.get("/account").status_code == 302
    db.session.expire_all()
    assert services.is_verified(services.get_user(user.id))


def test_a_link_works_once(client, make_user, outbox):
    user = make_user()
    link = reset_link(client, outbox, user)
    assert choose(client, link).status_code == 302
    client.post("/logout")
    for again in (client.get(link), choose(client, link, "another-password-3")):
        assert again.status_code == 410
        body = again.get_data(as_text=True)
        assert "already been used" in body and 'href="/password/forgot"' in body
    db.session.expire_all()
    assert services.authenticate(user.email, NEW_PASSWORD) is not None


def test_an_expired_link_says_so(client, make_user, outbox, monkeypatch):
    user = make_user()
    link = reset_link(client, outbox, user)
    two_hours_later = time.time() + 2 * 3600
    monkeypatch.setattr(time, "time", lambda: two_hours_later)
    for late in (client.get(link), choose(client, link)):
        assert late.status_code == 410
        body = late.get_data(as_text=True)
        assert "expired" in body and 'href="/password/forgot"' in body
    db.session.expire_all()
    assert services.authenticate(user.email, DEFAULT_PASSWORD) is not None


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 2000, "eyJ1IjoxfQ"])
def test_a_forged_link_is_a_clear_400(client, make_user, outbox, token):
    user = make_user()
    genuine = reset_link(client, outbox, user)
    for path in (f"/password/reset/{token}", genuine[:-3] + "AAA"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert "not valid" in response.get_data(as_text=True)
        assert choose(client, path).status_code == 400
    db.session.expire_all()
    assert services.authenticate(user.email, DEFAULT_PASSWORD) is not None


def test_a_weak_new_password_is_refused_and_the_link_still_works(client, make_user, outbox):
    user = make_user()
    link = reset_link(client, outbox, user)
    weak = choose(client, link, "short")
    assert weak.status_code == 422 and "at least 10 characters" in weak.get_data(as_text=True)
    mismatch = choose(client, link, NEW_PASSWORD, "something-else-9")
    assert mismatch.status_code == 422 and "do not match" in mismatch.get_data(as_text=True)
    assert choose(client, link).status_code == 302


def test_asking_is_limited_per_address(client, make_user, outbox):
    user = make_user()
    for _ in range(3):
        assert ask_for_link(client, user.email).status_code == 200
    limited = ask_for_link(client, user.email.upper())
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert "Too many" in limited.get_data(as_text=True)
    assert len(outbox(to=user.email)) == 3


def test_asking_is_limited_per_ip(client):
    for number in range(6):
        assert ask_for_link(client, f"someone{number}@example.com").status_code == 200
    limited = ask_for_link(client, "someone-else@example.com")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


def test_sign_in_page_and_lockout_message_offer_a_reset(client, make_user):
    assert 'href="/password/forgot"' in client.get("/login").get_data(as_text=True)
    user = make_user()
    for _ in range(3):
        client.post("/login", data={"email": user.email, "password": "guess-guess-1"})
    locked = client.post("/login", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert locked.status_code == 429
    assert 'href="/password/forgot"' in locked.get_data(as_text=True)


def test_a_reset_lifts_the_sign_in_lock_at_once(app, client, make_user, outbox):
    user = make_user()
    for _ in range(3):
        client.post("/login", data={"email": user.email, "password": "guess-guess-1"})
    assert client.post("/login", data={"email": user.email,
                                       "password": DEFAULT_PASSWORD}).status_code == 429
    mailbox = app.test_client()
    choose(mailbox, reset_link(mailbox, outbox, user))
    response = client.post("/login", data={"email": user.email, "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_staff_can_reset_too(client, make_user, outbox):
    agent = make_user(Role.AGENT)
    response = choose(client, reset_link(client, outbox, agent))
    assert response.headers["Location"] == "/tickets/queue"
