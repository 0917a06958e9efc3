"""The copilot works on tickets over the chat's indexed KB: both packages' fixtures."""

from tests.chat.conftest import indexed_kb  # noqa: F401 - the demo KB's chunks, once
from tests.tickets.conftest import (  # noqa: F401 - tickets, people and the KB's articles
    agent,
    customer,
    kb_articles,
    new_ticket,
)
