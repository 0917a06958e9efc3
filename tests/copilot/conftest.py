"""The copilot works on tickets over the chat's indexed KB: both packages' fixtures."""

import pytest

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


