from __future__ import annotations

from datetime import date

from portal.chat.answerer import compose
from portal.chat.evaluation import score_question, summarise, token_recall
from portal.chat.retrieval import Source
from portal.kb.chunking import build_chunks
from portal.kb.chunks import Passage, keyword_query
from portal.kb.documents import ParsedArticle


def article(body: str, slug: str = "reset-password") -> ParsedArticle:
    return ParsedArticle(slug=slug, title="Reset your password", category="account", tags=(),
                         summary="", status="published", audience="public",
                         updated=date(2026, 1, 1), body=body, path=f"{slug}.md",
                         content_hash="x")


def passage(slug: str, heading: str, anchor: str, text: str) -> Passage:
    return Passage(id=f"{slug}__0", slug=slug, title=slug.title(), heading=heading,
                   anchor=anchor, category="account", audience="public", text=text, score=1.0,
                   url=f"/kb/{slug}#{anchor}")


def test_chunks_follow_headings_with_the_page_anchors() -> None:
    body = "Intro line here.\n\n## Reset in the app\n\n1. Open **Settings**.\n2. Tap Reset.\n\n" \
           "## Reset in the app\n\nSecond section with the same heading."
    chunks = build_chunks(article(body))
    assert [(c.heading, c.anchor) for c in chunks] == [
        ("Reset your password", ""), ("Reset in the app", "reset-in-the-app"),
        ("Reset in the app", "reset-in-the-app-1"),
    ]
    assert chunks[1].text == "- Open Settings.\n- Tap Reset."
    assert chunks[1].embed_text.startswith("Reset your password — Reset in the app\n")


def test_long_sections_are_split_into_pieces_of_bounded_size() -> None:
    sentence = "The thermostat keeps its schedule while offline. "
    chunks = build_chunks(article("## Long\n\n" + sentence * 120), max_words=100)
    assert len(chunks) > 3
    assert all(len(c.text.split()) <= 130 for c in chunks)
    assert {c.anchor for c in chunks} == {"long"}


def test_keyword_query_keeps_at_most_ten_content_words() -> None:
    query = keyword_query("Hi, I'm having a problem: how do I reset the password on my "
                          "Hearthly thermostat app after changing my phone number and email?")
    assert query.split() == ["reset", "password", "hearthly", "thermostat", "app", "changing",
                             "phone", "number", "email"]
    assert len(keyword_query(" ".join(f"word{i}" for i in range(30))).split()) == 10


def test_the_local_answer_uses_retrieved_sentences_and_cites_only_them() -> None:
    sources = [
        Source("reset-password", "Reset", "account", 2.0, "/kb/reset-password", (
            passage("reset-password", "In the app", "in-the-app",
                    "- Open Settings > Account.\n- Tap Reset password and follow the email."),
        )),
        Source("billing", "Billing", "billing", 1.0, "/kb/billing", (
            passage("billing", "Invoices", "invoices", "Invoices are emailed every month."),
        )),
    ]
    composed = compose("How do I reset my password?", sources)
    assert "Tap Reset password and follow the email. [1]" in composed.text
    assert composed.citations[0].url == "/kb/reset-password#in-the-app"
    cited_urls = {c.url for c in composed.citations}
    assert cited_urls <= {"/kb/reset-password#in-the-app", "/kb/billing#invoices"}


def test_nothing_retrieved_composes_nothing() -> None:
    assert compose("anything", []).citations == []


def test_eval_figures() -> None:
    class Reply:
        def __init__(self, answered: bool, slugs: list[str], cited: list[str]) -> None:
            from portal.chat.answerer import Citation

            self.answered, self.text, self.confidence, self.reason = answered, "reset it", 1.0, None
            self.outcome, self.turn = "answer" if answered else "handoff", None
            self.citations = [Citation(1, s, s, s, f"/kb/{s}") for s in cited]
            self.retrieval = type("R", (), {"slugs": slugs, "decision_features": {}})()

    rows = [
        score_question({"id": "1", "question": "q", "answerable": True, "gold_slugs": ["a"],
                        "reference_answer": "reset it now"}, Reply(True, ["a", "b"], ["a"]), 10),
        score_question({"id": "2", "question": "q", "answerable": True, "gold_slugs": ["B"]},
                       Reply(False, ["a", "b"], []), 20),
        score_question({"id": "3", "question": "q", "answerable": False, "gold_slugs": []},
                       Reply(False, ["a"], []), 30),
    ]
    summary = summarise(rows)
    assert summary["hit_at_1"] == 0.5 and summary["mrr"] == 0.75 and summary["hit_at_5"] == 1.0
    assert summary["answered_when_answerable"] == 0.5
    assert summary["handoff_when_unanswerable"] == 1.0
    assert summary["citation_precision"] == 1.0
    assert summary["latency_ms_p50"] == 20.0
    assert token_recall("please reset it", "reset it now") == 2 / 3


def _steps_source(steps: list[str]) -> list[Source]:
    text = "If you forgot it, you can set a new one.\n" + "\n".join(f"- {s}" for s in steps)
    return [Source("reset-password", "Reset", "account", 2.0, "/kb/reset-password", (
        passage("reset-password", "Reset a forgotten password", "reset-a-forgotten-password",
                text),
    ))]


def test_a_matching_step_brings_its_whole_procedure_in_order_after_its_lead_in() -> None:
    steps = ["On the sign-in screen, tap Forgot password.", "Enter the address on your account.",
             "Open the email with the reset link; it is valid for an hour.",
             "Choose a new password and tap Save."]
    composed = compose("How do I use the reset link email?", _steps_source(steps))
    assert composed.text.splitlines() == [
        "If you forgot it, you can set a new one.",
        "1. On the sign-in screen, tap Forgot password.",
        "2. Enter the address on your account.",
        "3. Open the email with the reset link; it is valid for an hour.",
        "4. Choose a new password and tap Save. [1]",
    ]
    assert [c.url for c in composed.citations] == [
        "/kb/reset-password#reset-a-forgotten-password"]


def test_a_long_procedure_is_cut_around_the_matching_step() -> None:
    steps = [f"Step number {n} of the long setup." for n in range(1, 16)]
    steps[5] = "Pair the thermostat with the hub now."
    composed = compose("How do I pair the thermostat?", _steps_source(steps))
    lines = composed.text.splitlines()
    assert len(lines) == 8
    assert lines[0] == "4. Step number 4 of the long setup."
    assert lines[2] == "6. Pair the thermostat with the hub now."
    assert lines[-1] == "11. Step number 11 of the long setup. [1]"


def test_the_section_headed_with_the_question_wins_over_a_passing_mention() -> None:
    sources = [Source("hub", "Hub", "devices", 2.0, "/kb/hub", (
        passage("hub", "Reset the hub", "reset-the-hub",
                "Hold the button for ten seconds. When it pulses blue, pair it again."),
        passage("hub", "Pair the hub", "pair-the-hub",
                "- Plug in the Hub and wait for the blue light.\n- Scan the code in the app."),
    ))]
    composed = compose("How do I pair the hub?", sources)
    assert composed.text.splitlines() == [
        "1. Plug in the Hub and wait for the blue light.", "2. Scan the code in the app. [1]"]
    assert composed.citations[0].url == "/kb/hub#pair-the-hub"


def test_table_rows_are_not_answers() -> None:
    sources = [Source("household", "Household", "account", 2.0, "/kb/household", (
        passage("household", "Roles", "roles",
                "Role   Can add devices   Sees billing\nMember   Yes   No\n"
                "A member can add devices to the home."),
    ))]
    composed = compose("Can a member add devices?", sources)
    assert composed.text == "A member can add devices to the home. [1]"


def test_a_top_article_with_only_a_table_leaves_the_answer_to_the_next() -> None:
    sources = [
        Source("plans", "Plans", "billing", 2.0, "/kb/plans", (
            passage("plans", "Compared", "compared", "Plan   Price   People\nFree   0   4"),
        )),
        Source("household", "Household", "account", 1.0, "/kb/household", (
            passage("household", "People", "people", "Plus homes can have up to ten people."),
        )),
    ]
    composed = compose("How many people can a Plus home have?", sources)
    assert composed.text == "Plus homes can have up to ten people. [1]"
    assert [c.url for c in composed.citations] == ["/kb/household#people"]


def test_the_sentence_giving_the_asked_for_duration_comes_first() -> None:
    sources = [Source("shipping", "Shipping", "orders", 3.0, "/kb/shipping", (
        passage("shipping", "Canada", "canada", "We ship to Canada from our Toronto partner. "
                "Orders to Canada are tracked from dispatch. Standard delivery to Canada takes "
                "4-7 business days."),
    ))]
    composed = compose("How long does shipping to Canada take?", sources)
    assert composed.text.splitlines()[0].startswith("Standard delivery to Canada takes 4-7")


def test_a_price_question_leads_with_the_price() -> None:
    sources = [Source("plans", "Plans", "billing", 3.0, "/kb/plans", (
        passage("plans", "Plus", "plus", "Plus adds history and alerts for every home. "
                "Plus keeps two years of history. Plus costs €4.99 a month or €49 a year."),
    ))]
    assert compose("How much is Plus?", sources).text.startswith("Plus costs €4.99")


def test_a_neighbouring_article_stays_out_of_the_answer() -> None:
    sources = [
        Source("app-crashes", "App crashes", "troubleshooting", 5.0, "/kb/app-crashes", (
            passage("app-crashes", "iPhone", "iphone", "If the app closes on your iPhone, update "
                    "iOS. Then delete the app and install it again from the App Store."),
        )),
        Source("cancel", "Cancel", "billing", 3.0, "/kb/cancel", (
            passage("cancel", "On iPhone", "on-iphone",
                    "On your iPhone, open the Settings app and tap your name."),
        )),
    ]
    composed = compose("The app crashes on my iPhone", sources)
    assert "Settings app and tap your name" not in composed.text
    assert {c.slug for c in composed.citations} == {"app-crashes"}
