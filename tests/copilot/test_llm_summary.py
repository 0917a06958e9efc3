"""With an LLM configured the summary is the model's; when it fails, the quoted one."""

from __future__ import annotations

import pytest

from portal.copilot import services as copilot
from tests.chat.conftest import fake_llm  # noqa: F401 - the OpenAI-compatible test server


@pytest.fixture
def app_overrides(fake_llm):  # noqa: F811
    return {"OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": fake_llm.url, "LLM_TIMEOUT": 1.0}


@pytest.fixture
def llm(fake_llm):  # noqa: F811
    fake_llm.mode = "ok"
    fake_llm.answer = "Needs: a reset email that arrives.\nAlready tried: the link, twice."
    fake_llm.requests.clear()
    yield fake_llm
    fake_llm.mode = "ok"


def test_the_llm_writes_the_summary_when_configured(llm, chat_ticket):
    assist = copilot.assist(chat_ticket)
    assert assist.summary.splitlines() == [
        "Needs: a reset email that arrives.", "Already tried: the link, twice.",
        "The bot already offered: Reset your password."]
    sent = llm.requests[-1]["messages"]
    assert "Summarise this support ticket" in sent[0]["content"]
    assert "I tried that twice already" in sent[1]["content"]


def test_a_failing_llm_leaves_the_quoted_summary(llm, chat_ticket):
    llm.mode = "500"
    assist = copilot.assist(chat_ticket)
    assert assist.summary.startswith("Needs: How do I get back into my account?")
    assert "Already tried: I tried that twice already" in assist.summary
