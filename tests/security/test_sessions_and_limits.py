"""Sign-out ends the session on the server, and a burst of bot answers, anonymous tickets or
registrations meets a 429: checked here against the shared world, from outside, as an
attacker holding a copied cookie or a script would try. The fuller stories are in
tests/accounts/test_sessions.py, tests/chat/test_rate_limits.py and
tests/tickets/test_ticket_limits.py."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import World, make_app


def test_a_session_cookie_copied_before_sign_out_opens_nothing_after(world: World) -> None:
    browser = world.fresh_client("customer")
    assert browser.get("/account").status_code == 200
    copied = browser.get_cookie("session")
    assert copied is not None
    assert browser.post("/logout").status_code == 302
    attacker = world.app.test_client()
    attacker.set_cookie("session", copied.value)
    response = attacker.get("/account")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(("setting", "method", "url", "data"), [
    ("CHAT_LIMIT_PER_SESSION", "GET", "/chat/suggest?q=reset+my+password", None),
    ("TICKET_LIMIT_PER_SESSION", "POST", "/tickets/new",
     {"subject": "Burst", "description": "One of many.", "email": "burst@security.example",
      "name": "Burst"}),
    ("REGISTER_LIMIT_PER_SESSION", "POST", "/register", None),
])
def test_a_burst_from_one_browser_meets_a_clear_429(world: World, base_overrides: dict[str, Any],
                                                    setting: str, method: str, url: str,
                                                    data: dict[str, str] | None) -> None:
    # Its own app with the real limit; the world's app lifts every limit for the other tests.
    app = make_app(base_overrides, world.content_dir, **{setting: 2})
    with app.app_context():
        browser = app.test_client()
        codes = []
        for n in range(3):
            form = data if data is not None else {
                "email": f"burst{n}-{setting.lower()}@security.example", "name": "Burst",
                "password": "a-long-burst-password", "confirm": "a-long-burst-password"}
            codes.append(browser.open(url, method=method, data=form if method == "POST" else None,
                                      headers={"HX-Request": "true"} if method == "GET" else {}
                                      ).status_code)
            if url == "/register":
                browser.post("/logout")  # a new account signs in; the next one needs it out
        assert codes[0] in (200, 302) and codes[1] in (200, 302) and codes[2] == 429, codes
