"""Sign-in sessions live on the server: signing out ends them, whatever cookies were kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import AccountSession
from portal.clock import utcnow
from portal.extensions import db
from tests.conftest import DEFAULT_PASSWORD

FIREFOX_ON_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_ON_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")


def sign_in(client, user, *, remember=False, user_agent=FIREFOX_ON_LINUX):
    data = {"email": user.email, "password": DEFAULT_PASSWORD}
    if remember:
        data["remember"] = "y"
    response = client.post("/login", data=data, headers={"User-Agent": user_agent})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def kept_cookie(client, name):
    cookie = client.get_cookie(name)
    assert cookie is not None, f"no {name} cookie"
    return cookie.value


def opens_account(client) -> bool:
    response = client.get("/account")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def test_a_session_cookie_kept_from_before_sign_out_no_longer_opens_the_account(app, make_user):
    user = make_user()
    browser = sign_in(app.test_client(), user)
    saved = kept_cookie(browser, "session")
    assert browser.post("/logout").status_code == 302

    replay = app.test_client()
    replay.set_cookie("session", saved)
    assert not opens_account(replay)


def test_a_remember_cookie_kept_from_before_sign_out_no_longer_signs_in(app, make_user):
    user = make_user()
    browser = sign_in(app.test_client(), user, remember=True)
    saved = kept_cookie(browser, "remember_token")
    # The remember cookie alone does sign in while the session is live: the control.
    before = app.test_client()
    before.set_cookie("remember_token", saved)
    assert opens_account(before)

    assert browser.post("/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("remember_token", saved)
    assert not opens_account(replay)


def test_signing_out_leaves_the_other_devices_signed_in(app, make_user):
    user = make_user()
    laptop = sign_in(app.test_client(), user)
    phone = sign_in(app.test_client(), user, user_agent=SAFARI_ON_IPHONE)
    laptop.post("/logout")
    assert not opens_account(laptop)
    assert opens_account(phone)


def test_the_account_page_lists_the_sessions_and_marks_this_device(app, make_user):
    user = make_user()
    laptop = sign_in(app.test_client(), user)
    sign_in(app.test_client(), user, user_agent=SAFARI_ON_IPHONE)
    page = laptop.get("/account").get_data(as_text=True)
    assert "Firefox on Linux" in page and "Safari on iPhone" in page
    assert page.count("This device") == 1
    this_row = page[page.index("Firefox on Linux"):].split("</tr>")[0]
    assert "This device" in this_row
    assert "127.0.0.1" in page


def test_sign_out_everywhere_ends_every_device_with_every_cookie(app, make_user):
    user = make_user()
    laptop = sign_in(app.test_client(), user)
    phone = sign_in(app.test_client(), user, remember=True, user_agent=SAFARI_ON_IPHONE)
    phone_remember = kept_cookie(phone, "remember_token")

    response = laptop.post("/account/sessions/end-all")
    assert response.status_code == 302
    assert not opens_account(laptop)
    assert not opens_account(phone)
    replay = app.test_client()
    replay.set_cookie("remember_token", phone_remember)
    assert not opens_account(replay)
    assert sign_in(app.test_client(), user)  # the password still works


def test_a_password_change_ends_the_other_devices_and_their_remember_cookies(app, make_user):
    user = make_user()
    laptop = sign_in(app.test_client(), user)
    phone = sign_in(app.test_client(), user, remember=True, user_agent=SAFARI_ON_IPHONE)
    phone_remember = kept_cookie(phone, "remember_token")
    response = laptop.post("/account", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "second-password-2",
        "confirm": "second-password-2"})
    assert response.status_code == 302
    assert opens_account(laptop)
    assert not opens_account(phone)
    replay = app.test_client()
    replay.set_cookie("remember_token", phone_remember)
    assert not opens_account(replay)


def _only_session_of(user) -> AccountSession:
    db.session.expire_all()
    (row,) = db.session.scalars(select(AccountSession).where(AccountSession.user_id == user.id))
    return row


def test_a_plain_session_ends_after_two_weeks_idle(app, make_user):
    user = make_user()
    browser = sign_in(app.test_client(), user)
    row = _only_session_of(user)
    row.last_seen_at = utcnow() - timedelta(days=13)
    db.session.commit()
    assert opens_account(browser)
    row = _only_session_of(user)
    row.last_seen_at = utcnow() - timedelta(days=15)
    db.session.commit()
    assert not opens_account(browser)


def test_a_remembered_session_ends_after_the_remember_duration(app, make_user):
    user = make_user()
    remembered = kept_cookie(sign_in(app.test_client(), user, remember=True), "remember_token")
    row = _only_session_of(user)
    lasting = timedelta(days=app.config["SESSION_REMEMBER_DAYS"])
    row.created_at = utcnow() - lasting - timedelta(minutes=1)
    row.last_seen_at = utcnow()
    db.session.commit()
    replay = app.test_client()
    replay.set_cookie("remember_token", remembered)
    assert not opens_account(replay)
    assert app.config["REMEMBER_COOKIE_DURATION"] == lasting


@pytest.mark.parametrize(("minutes_ago", "touched"), [(1, False), (10, True)])
def test_last_seen_is_written_at_most_every_few_minutes(app, make_user, minutes_ago, touched):
    user = make_user()
    browser = sign_in(app.test_client(), user)
    row = _only_session_of(user)
    earlier = utcnow() - timedelta(minutes=minutes_ago)
    row.last_seen_at = earlier
    db.session.commit()
    assert opens_account(browser)
    assert (_only_session_of(user).last_seen_at != earlier) is touched


def test_a_deactivated_account_is_signed_out(app, make_user):
    user = make_user()
    browser = sign_in(app.test_client(), user)
    user.active = False
    db.session.commit()
    assert not opens_account(browser)
