"""The copilot works on tickets over the chat's indexed KB: both packages' fixtures."""

import pytest

from portal.accounts.models import Role
from portal.copilot import similar
from portal.tickets import services as tickets
from tests.chat.conftest import indexed_kb  # noqa: F401,F811 - the demo KB's chunks, once
from tests.tickets.conftest import (  # noqa: F401,F811 - tickets, people, the KB's articles
    agent,
    customer,
    kb_articles,
    new_ticket,
)

TRANSCRIPT = (
    "Customer: I forgot my password and can't sign in\n"
    "Bot: Open the sign-in page and choose Forgot password [1]\n"
    "    [1] Reset your password — Reset your password (/kb/reset-password)\n"
    "Customer: I tried that twice already but the reset email never arrives"
)


@pytest.fixture
def chat_ticket(app, indexed_kb, kb_articles, customer, new_ticket):  # noqa: F811
    return new_ticket(
        customer, subject="Password reset email never arrives",
        description="I forgot my password. I tried the reset link twice already but the email "
                    "never arrives. How do I get back into my account?",
        source="chat", transcript=TRANSCRIPT, article_slugs=["reset-password"],
    )


SOLVING_REPLY = (
    "Hi Casey,\n\nThe reset email is often filed as spam. Add noreply@hearthly.example to "
    "your contacts, then choose Forgot password again; the link works for an hour. "
    "Casey, write back if it still does not arrive.")


@pytest.fixture
def solved(app, indexed_kb, kb_articles, customer, agent, new_ticket):  # noqa: F811
    """A solved ticket, indexed through the hook (with COPILOT_BACKGROUND "inline")."""
    similar.clear()
    ticket = new_ticket(customer, subject="Password reset email never arrives",
                        description="I asked for a password reset twice but the email with "
                                    "the link never arrives. How do I sign in?",
                        category="account")
    tickets.reply(ticket.id, SOLVING_REPLY, actor=tickets.Actor.of(agent), then_status="solved")
    return ticket


@pytest.fixture
def asking(app, solved, make_user, new_ticket):  # noqa: F811
    """Another customer's ticket with the same problem."""
    other = make_user(Role.CUSTOMER, name="Dana Other")
    return new_ticket(other, subject="No reset link email",
                      description="I requested a new password but the reset email did not "
                                  "arrive. What can I do?", category="account")
