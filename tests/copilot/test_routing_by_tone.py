"""Angry or urgent customers rise: a `sentiment: negative` rule fires on the scored ticket."""

from __future__ import annotations

import pytest

RULES = """rules:
  - name: Upset customers first
    when:
      sentiment: negative
    then:
      priority: high
      tag: upset
"""


@pytest.fixture
def app_overrides(tmp_path):
    rules = tmp_path / "routing.yml"
    rules.write_text(RULES)
    return {"ROUTING_FILE": str(rules)}


def test_an_upset_ticket_is_routed_up_and_a_calm_one_is_not(new_ticket, customer):
    upset = new_ticket(customer, subject="Still broken",
                       description="Nobody has answered in a week and the heating is off. "
                                   "I need someone today.")
    calm = new_ticket(customer, subject="Schedules",
                      description="How do I copy Monday's schedule to the other weekdays?")
    assert (upset.priority, upset.tags) == ("high", ["upset"])
    assert (calm.priority, calm.tags) == ("normal", [])


def test_the_routing_preview_reads_the_sample_s_tone(client, login, make_user):
    from portal.accounts.models import Role

    login(make_user(Role.ADMIN))
    page = client.get("/tickets/routing", query_string={
        "preview": "1", "subject": "This is unacceptable", "description": "Fix it asap!",
        "priority": "normal", "source": "form"}).get_data(as_text=True)
    assert "Upset customers first" in page
