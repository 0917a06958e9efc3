"""Mail sent to the real listener lands in the team and tier the routing rules choose."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.tickets import services

from .mail_support import message, tickets

RULES = """\
rules:
  - name: Invoices by email go to Billing
    when: {source: email, keywords: [invoice, refund]}
    then: {team: billing, tag: billing-mail}
  - name: Outages are urgent for Technical L2
    when: {keywords: [offline, outage]}
    then: {team: technical, tier: L2, priority: urgent}
"""

pytestmark = pytest.mark.usefixtures("clean_outbox")


@pytest.fixture
def app_overrides(tmp_path: Path) -> dict[str, str]:
    rules = tmp_path / "routing.yml"
    rules.write_text(RULES)
    return {"ROUTING_FILE": str(rules)}


@pytest.fixture
def teams(app) -> None:
    services.create_team("general", "General Support", default=True)
    services.create_team("billing", "Billing")
    services.create_team("technical", "Technical")


def test_mail_is_routed_by_the_rules_file(app, teams, listener) -> None:
    assert listener.send(message(subject="Second invoice this month",
                                 body="I was charged twice for my plan.")) == {}
    assert listener.send(message(sender="Sam <sam@example.com>", subject="Hub offline",
                                 body="Every thermostat in the house is offline.")) == {}
    assert listener.send(message(sender="Kim <kim@example.com>", subject="Question",
                                 body="Can I paint the wall plate?")) == {}

    routed = {ticket.subject: ticket for ticket in tickets()}
    assert set(routed) == {"Second invoice this month", "Hub offline", "Question"}
    names = dict(services.team_choices())
    invoice, outage, other = (routed["Second invoice this month"], routed["Hub offline"],
                              routed["Question"])
    assert names[invoice.team_id] == "Billing" and "billing-mail" in invoice.tags
    assert names[outage.team_id] == "Technical" and outage.tier == 2
    assert outage.priority == "urgent"
    # Nothing matched: the default team, first tier.
    assert names[other.team_id] == "General Support" and other.tier == 1
