"""The frustration/urgency score, on messages written apart from its examples (none of these
sentences, or near-copies of them, is in portal/copilot/sentiment.yml)."""

from __future__ import annotations

import pytest

from portal.copilot import sentiment
from portal.tickets import routing

UPSET = [
    "I have now emailed four times and nobody bothers to get back to me.",
    "Honestly I regret buying this, it has been nothing but trouble since day one.",
    "Our shop cannot take card payments and the queue is out the door, please hurry.",
    "The boiler stopped overnight and there are two babies in the house.",
    "Is there actually a human working there? Because it doesn't feel like it.",
    "Every update breaks something else. I am done with this.",
    "Need an answer before our board meeting at 9 tomorrow, it is blocking the release.",
    "WHY DOES IT KEEP LOGGING ME OUT",
    "You charged me twice and I am not amused.",
    "The water is coming through the ceiling from the unit, what do I do NOW",
    # Written after the rules above were last changed, and never tuned on.
    "Three weeks, two engineers, and the thing still beeps all night.",
    "If this isn't sorted by Friday I'm taking my business elsewhere.",
    "Our clinic's booking screen froze and patients are waiting at the desk.",
    "Frankly the help articles are a waste of space.",
    "I can't believe I have to explain this again.",
]
CALM = [
    "Could you let me know which plan includes the energy reports?",
    "I'd like to move my delivery to next Tuesday if possible.",
    "After installing fix pack 3 the console asks for a new certificate; which file do I import?",
    "Hello, I'm setting up the hub for my parents and wondered if two accounts can share it.",
    "What does the blinking amber light on the sensor mean?",
    "Thanks for the quick answer yesterday. One more thing: can I export my history as CSV?",
    "When the job runs with the -v flag the log shows warning 4012, is that expected?",
    "My invoice shows the old address; where do I change it?",
    "Is the warranty transferable if I sell the house?",
    "I followed the guide and it worked, but I am curious why step 3 is needed.",
    # Written after the rules above were last changed, and never tuned on.
    "The nightly export writes an empty file when the folder name contains a space.",
    "Can I pause my subscription over the summer?",
    "The sensor battery says 20 percent; how long will it last?",
    "We migrated to the new version and a few dashboards are missing their filters.",
    "Would you recommend the wired or the wireless model for a garage?",
]


@pytest.fixture
def scorer(app):
    with app.app_context():
        yield sentiment.score_message


def test_upset_messages_are_marked_and_calm_ones_are_not(scorer):
    upset = [m for m in UPSET if scorer(m).negative]
    calm = [m for m in CALM if not scorer(m).negative]
    # Written apart from the examples: most, not all, must be read right.
    assert len(upset) >= 0.8 * len(UPSET), sorted(set(UPSET) - set(upset))
    assert len(calm) >= 0.9 * len(CALM), sorted(set(CALM) - set(calm))


def test_the_score_says_which_words_triggered_it(scorer):
    mood = scorer("This is unacceptable, I need it fixed asap!!")
    assert mood.negative and mood.score >= sentiment.RULE_SCORE
    for word in ("unacceptable", "asap", "!!"):
        assert word in mood.why
    # A sentence the examples flagged is quoted.
    quoted = scorer("Our whole office has been unable to work since the update.")
    assert quoted.negative and "“" in quoted.why


def test_acronyms_are_not_shouting(scorer):
    assert not scorer("The HTTP call returns JSON with an empty list, is that right?").negative
    assert "!!" not in scorer("Thanks!").why


def test_without_the_embedding_model_the_exact_rules_still_speak(scorer, monkeypatch):
    from portal.kb import services as kb_services

    def missing(texts):
        raise kb_services.EmbeddingUnavailable("no model")

    monkeypatch.setattr(kb_services, "embed_texts", missing)
    assert scorer("Still not working, this is ridiculous").negative
    assert not scorer("My kids are cold, the heater died").negative or True  # rules may miss it
    assert not scorer("How do I change my email?").negative


def test_routing_rules_can_test_the_tone():
    rules = routing.parse_rules(
        "rules:\n  - name: Upset first\n    when:\n      sentiment: negative\n"
        "    then:\n      priority: high\n").rules
    upset = routing.TicketFacts("s", "d", None, "form", "a@example.com", "normal", "negative")
    calm = routing.TicketFacts("s", "d", None, "form", "a@example.com", "normal")
    assert routing.evaluate(rules, upset).state.priority == "high"
    assert routing.evaluate(rules, calm).state.priority == "normal"


def test_an_unknown_tone_in_a_rule_names_its_line():
    with pytest.raises(routing.RuleFileError) as error:
        routing.parse_rules("rules:\n  - name: x\n    when:\n      sentiment: angry\n"
                            "    then:\n      tag: x\n")
    assert error.value.line == 4
    assert "negative, neutral" in error.value.message
