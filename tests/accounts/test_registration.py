from __future__ import annotations

import pytest

from portal.accounts import services
from portal.accounts.models import Role, User
from portal.extensions import db


def register(client, **overrides):
    data = {
        "name": "Dana Homeowner",
        "email": "dana@example.com",
        "password": "warm-house-2026",
        "confirm": "warm-house-2026",
    }
    data.update(overrides)
    return client.post("/register", data=data)


def test_register_signs_in_and_hashes_password(client):
    response = register(client)
    assert response.status_code == 302
    user = db.session.query(User).filter_by(email="dana@example.com").one()
    assert user.role == Role.CUSTOMER
    assert "warm-house-2026" not in user.password_hash
    page = client.get("/account").get_data(as_text=True)
    assert "Dana Homeowner" in page


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": "not-an-email"}, "not valid"),
        ({"password": "short", "confirm": "short"}, "at least 10 characters"),
        ({"password": "password123", "confirm": "password123"}, "too easy to guess"),
        ({"confirm": "something-else-1"}, "do not match"),
        ({"name": "x" * 10_000}, "Field cannot be longer than 120 characters"),
        ({"name": "   "}, "This field is required"),
    ],
)
def test_register_rejects_bad_input_with_a_clear_message(client, overrides, message):
    response = register(client, **overrides)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_register_with_taken_email_keeps_the_existing_account(client, make_user):
    existing = make_user(email="dana@example.com")
    response = register(client, email="Dana@Example.com")
    assert response.status_code == 422
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 1
    assert db.session.get(User, existing.id).name == existing.name


def test_forged_post_without_csrf_token_is_refused(client):
    response = client.post(
        "/register",
        data={"name": "Mallory", "email": "m@example.com",
              "password": "x" * 12, "confirm": "x" * 12},
        csrf=False,
    )
    assert response.status_code == 400
    assert "form expired or was not sent from this site" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 0


def test_password_change_requires_current_password_and_signs_out_other_devices(
    app, client, make_user, login
):
    user = make_user(password="first-password-1")
    login(user, "first-password-1")
    other_device = app.test_client()
    login(user, "first-password-1", the_client=other_device)

    wrong = client.post("/account", data={
        "current_password": "nope-nope-nope", "new_password": "second-password-2",
        "confirm": "second-password-2",
    })
    assert wrong.status_code == 422
    assert "current password is not correct" in wrong.get_data(as_text=True)

    ok = client.post("/account", data={
        "current_password": "first-password-1", "new_password": "second-password-2",
        "confirm": "second-password-2",
    })
    assert ok.status_code == 302
    assert client.get("/account").status_code == 200
    assert other_device.get("/account").status_code == 302  # sent to sign in again
    db.session.expire_all()
    assert services.authenticate(user.email, "second-password-2") is not None


def test_users_create_command(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "new.agent@example.com", "--name", "New Agent",
              "--role", "agent", "--password", "agent-password-9"],
    )
    assert result.exit_code == 0, result.output
    user = services.find_user_by_email("new.agent@example.com")
    assert user is not None and user.role == Role.AGENT


def test_users_create_command_reports_a_weak_password(runner):
    result = runner.invoke(
        args=["users", "create", "--email", "a@example.com", "--name", "A", "--password", "123"],
    )
    assert result.exit_code != 0
    assert "password: Use at least 10 characters" in result.output


@pytest.fixture
def app_overrides():
    return {"REGISTER_LIMIT_PER_SESSION": 2, "REGISTER_LIMIT_PER_IP": 3}


def test_one_browser_can_create_only_a_few_accounts(client):
    for number in range(2):
        assert register(client, email=f"dana{number}@example.com").status_code == 302
        client.post("/logout")
    limited = register(client, email="dana9@example.com")
    assert limited.status_code == 429
    assert "Too many new accounts" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0
    assert services.find_user_by_email("dana9@example.com") is None


def test_one_address_can_create_only_a_few_accounts_even_without_cookies(app):
    for number in range(3):
        assert register(app.test_client(), email=f"bot{number}@example.com").status_code == 302
    limited = register(app.test_client(), email="bot9@example.com")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert db.session.query(User).count() == 3


def test_refused_registrations_do_not_use_up_the_limit(client):
    for _ in range(4):
        assert register(client, password="short", confirm="short").status_code == 422
    assert register(client).status_code == 302
