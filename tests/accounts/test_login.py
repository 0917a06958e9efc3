from __future__ import annotations

import pytest

from portal.accounts.models import Role
from portal.ratelimit import Limit, MemoryStore, RateLimiter


def test_login_and_logout(client, make_user):
    user = make_user(Role.CUSTOMER, password="lovely-garden-7")
    response = client.post("/login", data={"email": user.email, "password": "lovely-garden-7"})
    assert response.status_code == 302
    assert user.name in client.get("/account").get_data(as_text=True)
    client.post("/logout")
    assert client.get("/account").status_code == 302


def test_wrong_password_is_a_clear_message(client, make_user):
    user = make_user()
    response = client.post("/login", data={"email": user.email, "password": "wrong-password"})
    assert response.status_code == 422
    assert "do not match an account" in response.get_data(as_text=True)


def test_remember_me_sets_a_lasting_cookie(client, make_user):
    user = make_user(password="lovely-garden-7")
    response = client.post(
        "/login", data={"email": user.email, "password": "lovely-garden-7", "remember": "y"}
    )
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=") and "HttpOnly" in c for c in cookies)


def test_login_redirects_only_to_local_pages(client, make_user):
    user = make_user(password="lovely-garden-7")
    response = client.post(
        "/login?next=https://evil.example/steal",
        data={"email": user.email, "password": "lovely-garden-7"},
    )
    assert response.headers["Location"] == "/"
    client.post("/logout")
    response = client.post(
        "/login?next=/account", data={"email": user.email, "password": "lovely-garden-7"}
    )
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize("role,home", [(Role.AGENT, "/tickets/queue"), (Role.EDITOR, "/kb/editor"),
                                       (Role.MANAGER, "/metrics")])
def test_staff_land_on_their_work(client, make_user, role, home):
    user = make_user(role, password="lovely-garden-7")
    response = client.post("/login", data={"email": user.email, "password": "lovely-garden-7"})
    assert response.headers["Location"] == home


@pytest.fixture
def app_overrides():
    return {"LOGIN_LIMIT_PER_ACCOUNT": 3, "LOGIN_LIMIT_PER_IP": 6, "LOGIN_LIMIT_WINDOW": 600}


def test_failed_logins_lock_the_account_with_a_clear_message(client, make_user):
    user = make_user(password="lovely-garden-7")
    for _ in range(3):
        client.post("/login", data={"email": user.email, "password": "guess-guess-1"})
    blocked = client.post("/login", data={"email": user.email, "password": "lovely-garden-7"})
    assert blocked.status_code == 429
    body = blocked.get_data(as_text=True)
    assert "Too many sign-in attempts" in body and "minutes" in body
    assert int(blocked.headers["Retry-After"]) > 0


def test_one_address_trying_many_accounts_is_limited(client, make_user):
    for number in range(6):
        client.post("/login", data={"email": f"nobody{number}@example.com", "password": "x" * 12})
    real = make_user(password="lovely-garden-7")
    blocked = client.post("/login", data={"email": real.email, "password": "lovely-garden-7"})
    assert blocked.status_code == 429


def test_limits_are_shared_through_redis():
    import redis

    prefix = "portal-test-rl:"
    first, second = (RateLimiter("redis://127.0.0.1:6379/0", prefix=prefix) for _ in range(2))
    limit = Limit(2, 30)
    first.reset("k")
    assert first.hit("k", limit).allowed
    assert second.hit("k", limit).allowed
    verdict = first.hit("k", limit)
    assert not verdict.allowed and verdict.retry_after > 0
    assert first.backend == "redis"
    redis.Redis.from_url("redis://127.0.0.1:6379/0").delete(prefix + "k")


def test_a_dead_redis_falls_back_to_counting_in_memory():
    limiter = RateLimiter("redis://127.0.0.1:1/0")
    limit = Limit(1, 30)
    assert limiter.hit("k", limit).allowed
    assert not limiter.hit("k", limit).allowed


def test_memory_window_expires(monkeypatch):
    import portal.ratelimit as ratelimit

    clock = [100.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    store = MemoryStore()
    assert store.incr("k", 10)[0] == 1
    assert store.incr("k", 10)[0] == 2
    clock[0] += 11
    assert store.incr("k", 10)[0] == 1


@pytest.mark.parametrize("app_overrides", [{"LOGIN_LIMIT_PER_IP": 4}])
def test_successful_sign_ins_do_not_use_up_the_address_limit(client, make_user):
    user = make_user(password="lovely-garden-7")
    for _ in range(4):
        signed_in = client.post("/login", data={"email": user.email,
                                                "password": "lovely-garden-7"})
        assert signed_in.status_code == 302
        client.post("/logout")
    again = client.post("/login", data={"email": user.email, "password": "lovely-garden-7"})
    assert again.status_code == 302
