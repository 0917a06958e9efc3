"""Every state-changing route refuses a forged request (no CSRF token) and writes nothing."""

from __future__ import annotations

import pytest

from .conftest import World, content_fingerprint, database_fingerprint, send
from .route_rules import allowed_persona, rule_for
from .test_access_matrix import ROUTES

STATE_CHANGING = [route for route in ROUTES if route[1] in {"POST", "PUT", "PATCH", "DELETE"}]


@pytest.mark.parametrize(("endpoint", "method", "path"), STATE_CHANGING,
                         ids=[f"{e}-{m}" for e, m, _ in STATE_CHANGING])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_forged_request_is_refused_and_changes_nothing(
    world: World, endpoint: str, method: str, path: str, htmx: bool
) -> None:
    rule = rule_for(endpoint, method, path)
    persona = allowed_persona(rule)
    before = database_fingerprint(), content_fingerprint(world.content_dir)
    headers = {"HX-Request": "true"} if htmx else {}
    response = send(world, persona, endpoint, method, rule, csrf=False,
                    headers=headers)
    assert response.status_code == 400, (persona, response.status_code)
    assert "not sent from this site" in response.get_data(as_text=True)
    assert (database_fingerprint(), content_fingerprint(world.content_dir)) == before


def test_forged_sign_out_keeps_the_user_signed_in(world: World) -> None:
    client = world.fresh_client("customer")
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/account").status_code == 200


def test_a_token_from_another_browser_is_refused(world: World) -> None:
    victim, attacker = world.fresh_client("customer"), world.fresh_client("anonymous")
    stolen_elsewhere = attacker.csrf_token()
    before = database_fingerprint()
    response = victim.post(f"/tickets/{world.ticket_number}/reply",
                           data={"body": "Forged reply", "csrf_token": stolen_elsewhere},
                           csrf=False)
    assert response.status_code == 400
    assert database_fingerprint() == before


def test_the_same_request_with_its_token_does_change_the_database(world: World) -> None:
    """The control: the fingerprint sees a write, so 'unchanged' above means something."""
    before = database_fingerprint()
    response = world.client("customer").post("/tickets/new", data={
        "subject": "A genuine ticket", "description": "Sent with its token."})
    assert response.status_code == 302
    assert database_fingerprint() != before
