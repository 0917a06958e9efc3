"""A payload corpus through every field the portal shows again; every page must stay inert."""

from __future__ import annotations

import csv
import io
import re

import pytest

from portal.accounts import services as account_services
from portal.accounts.models import Role
from portal.kb.engine import SearchEngine, get_engine
from portal.tickets import services as ticket_services
from portal.tickets.models import TicketStatus
from portal.tickets.services import Actor
from tests.conftest import DEFAULT_PASSWORD, PortalClient

from .conftest import World
from .inert import ALL_PAYLOADS, MARK, MARKDOWN_PAYLOADS, PAYLOADS, live_markup

SHORT_PAYLOADS = [p for p in PAYLOADS if len(p) <= 110]


def assert_inert(client: PortalClient, url: str, *, shows_payload: bool = True) -> str:
    response = client.get(url)
    html = response.get_data(as_text=True)
    response.close()
    assert response.status_code == 200, (url, response.status_code)
    problems = live_markup(html)
    assert not problems, f"{url} runs a payload:\n  " + "\n  ".join(problems[:20])
    assert f"49 {MARK}" not in html, f"{url} evaluated a template expression from a payload"
    if shows_payload:
        # Otherwise the page never showed the field and this test would prove nothing.
        assert MARK in html, f"{url} did not show the payload at all"
    return html


def test_the_checker_finds_every_live_payload() -> None:
    """The check can fail: each raw payload, pasted unescaped, is caught."""
    for payload in PAYLOADS:
        if "{{" in payload:
            continue  # template syntax is caught by the "49" check instead
        assert live_markup(f"<p>{payload}</p>"), payload
    assert live_markup(f'<a href="javascript:alert(1)">{MARK}</a>')
    assert not live_markup('<script src="/static/js/portal.js"></script><a href="/kb">Help</a>')


def _new_ticket(client: PortalClient, subject: str, description: str = ALL_PAYLOADS,
                **more: str) -> int:
    response = client.post("/tickets/new", data={"subject": subject,
                                                 "description": description, **more})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    # A signed-in requester lands on /tickets/<number>, an anonymous one on /tickets/sent/<number>.
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def test_ticket_subject_description_replies_and_notes(world: World) -> None:
    customer, agent = world.client("customer"), world.client("agent")
    numbers = [_new_ticket(customer, subject) for subject in SHORT_PAYLOADS]
    number = numbers[0]
    for path, body in (("reply", ALL_PAYLOADS), ("note", ALL_PAYLOADS)):
        response = agent.post(f"/tickets/{number}/{path}", data={"body": body})
        assert response.status_code in (200, 302)
    assert customer.post(f"/tickets/{number}/reply",
                         data={"body": ALL_PAYLOADS}).status_code == 302
    html = assert_inert(customer, f"/tickets/{number}")
    assert "Internal note" not in html
    assert_inert(customer, "/tickets")
    for each in numbers:
        assert_inert(agent, f"/tickets/{each}")
    assert_inert(agent, "/tickets/queue")
    assert_inert(agent, f"/tickets/queue?q={MARK}")
    assert_inert(agent, f"/tickets/queue?status=all&category={MARK}", shows_payload=False)


def test_names_of_customers_agents_and_anonymous_requesters(world: World) -> None:
    agent_client = world.client("agent")
    for index, payload in enumerate(SHORT_PAYLOADS[:8]):
        name = payload[:120]
        browser: PortalClient = world.app.test_client()  # type: ignore[assignment]
        response = browser.post("/register", data={
            "email": f"named{index}@xss.example", "name": name,
            "password": DEFAULT_PASSWORD, "confirm": DEFAULT_PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:400]
        assert_inert(browser, "/")  # the welcome message names them
        assert_inert(browser, "/account", shows_payload=False)
        number = _new_ticket(browser, f"Help for customer {index}", "My heating is off.")
        assert_inert(agent_client, f"/tickets/{number}")
        # Without an account: the name comes from the form.
        anonymous: PortalClient = world.app.test_client()  # type: ignore[assignment]
        _new_ticket(anonymous, f"Anonymous help {index}", "Please call me.", name=name,
                    email=f"anon{index}@xss.example")
    assert_inert(agent_client, "/tickets/queue")
    # A staff member's name, seen by the customer on a reply.
    number = _new_ticket(world.client("customer"), "Who answered me?", "Tell me your name.")
    with world.app.app_context():
        staff = account_services.create_user("agent-named@xss.example", SHORT_PAYLOADS[1][:120],
                                             DEFAULT_PASSWORD, Role.AGENT)
        ticket = ticket_services.get_ticket(number)
        assert ticket is not None
        ticket_services.reply(ticket.id, "We are on it.", actor=Actor.of(staff))
    assert_inert(world.client("customer"), f"/tickets/{number}")


def _save_article(editor: PortalClient, slug: str, **fields: str) -> None:
    form = {"title": f"Thermostat {MARK} guide", "slug": slug, "category": "account",
            "tags": "", "summary": "", "status": "published", "audience": "public",
            "body": ALL_PAYLOADS, **fields}
    response = editor.post("/kb/editor/new", data=form)
    problems = re.findall(r'class="field-error"[^>]*>([^<]*)', response.get_data(as_text=True))
    assert response.status_code == 302, problems


def test_article_markdown_and_front_matter_through_the_editor(world: World) -> None:
    editor, reader = world.client("editor"), world.client("anonymous")
    _save_article(editor, "xss-body")
    for index, payload in enumerate(SHORT_PAYLOADS[:10]):
        _save_article(editor, f"xss-meta-{index}", title=f"{payload} {MARK}"[:200],
                      summary=payload, tags=f"{payload}, {MARK}",
                      body=f"Plain text about {MARK}.\n\n" + "\n\n".join(MARKDOWN_PAYLOADS))
    # A front matter key smuggled through the title stays part of the title.
    _save_article(editor, "xss-yaml", title=f"{MARK}\naudience: internal\n---\n<script>x</script>",
                  body="Front matter test.")
    assert_inert(reader, "/kb/xss-yaml")
    for slug in ["xss-body"] + [f"xss-meta-{i}" for i in range(10)]:
        assert_inert(reader, f"/kb/{slug}")
        assert_inert(editor, f"/kb/editor/{slug}/edit")
        assert_inert(editor, f"/kb/editor/{slug}/history")
    assert_inert(reader, "/kb")
    assert_inert(reader, f"/kb/search?q={MARK}")
    assert_inert(reader, f"/kb/search?q={MARK}", shows_payload=True)
    assert_inert(editor, "/kb/editor")
    preview = editor.post("/kb/editor/preview", data={"body": ALL_PAYLOADS})
    assert preview.status_code == 200
    assert not live_markup(preview.get_data(as_text=True))


def test_chat_messages_and_answers(world: World) -> None:
    customer = world.client("customer")
    for payload in PAYLOADS + MARKDOWN_PAYLOADS:
        assert customer.post("/chat/messages", data={"message": payload}).status_code == 302
    assert_inert(customer, "/")
    # An answer quoting an article full of payloads, composed from the database's own search
    # (Meilisearch "down"), so the retrieved text reaches the reply and its citations.
    _save_article(world.client("editor"), "xss-chat-source",
                  title=f"Pairing {MARK} thermostat", body=ALL_PAYLOADS)
    real = get_engine()
    world.app.extensions["portal.search_engine"] = SearchEngine(
        "http://127.0.0.1:9", "", index_prefix=real.index_prefix, timeout=0.5)
    try:
        browser: PortalClient = world.app.test_client()  # type: ignore[assignment]
        response = browser.post("/chat/messages", data={"message": f"Pairing {MARK} thermostat"},
                                headers={"HX-Request": "true"})
        html = response.get_data(as_text=True)
        stream_url = re.search(r'data-stream-url="([^"]+)"', html)
        assert stream_url, html[:500]
        streamed = browser.get(stream_url.group(1))
        streamed.get_data()
        streamed.close()
        assert streamed.mimetype == "text/plain"
        assert streamed.headers["X-Content-Type-Options"] == "nosniff"
        page = assert_inert(browser, "/")
        assert 'class="citation"' in page
        message_url = stream_url.group(1).rsplit("/stream", 1)[0]
        assert_inert(browser, message_url)
    finally:
        world.app.extensions["portal.search_engine"] = real


def test_hand_off_form_ticket_form_and_login_keep_what_was_typed_inert(world: World) -> None:
    customer = world.client("customer")
    conversation = world.conversation_id
    fields = {"subject": SHORT_PAYLOADS[3], "description": ALL_PAYLOADS,
              "name": SHORT_PAYLOADS[4], "email": SHORT_PAYLOADS[10], "action": "save"}
    assert customer.post(f"/chat/{conversation}/handoff", data=fields).status_code == 302
    assert_inert(customer, f"/chat/{conversation}/handoff")
    for url, form in (("/tickets/new", {"subject": SHORT_PAYLOADS[3], "description": ""}),
                      ("/login", {"email": SHORT_PAYLOADS[3], "password": "x"}),
                      ("/register", {"email": "a@b.example", "name": SHORT_PAYLOADS[3],
                                     "password": "short"})):
        response = world.client("anonymous").post(url, data=form)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert not live_markup(html) and MARK in html, url


SEARCH_PAGES = ("/kb/search?q={q}", "/tickets/new/suggestions?subject={q}")


@pytest.mark.parametrize("payload", SHORT_PAYLOADS[:12])
def test_search_terms_are_echoed_inert(world: World, payload: str) -> None:
    from urllib.parse import quote

    q = quote(f"{payload} thermostat")
    for template in SEARCH_PAGES:
        assert_inert(world.client("customer"), template.format(q=q))
    # The chat's suggestion answers the question without repeating it.
    assert_inert(world.client("customer"), f"/chat/suggest?q={q}", shows_payload=False)
    assert_inert(world.client("agent"), f"/tickets/queue?q={q}")
    assert_inert(world.client("agent"), f"/tickets/{world.ticket_number}/kb-search?q={q}")
    assert_inert(world.client("editor"), f"/kb/editor?q={q}")


def test_failed_searches_on_the_dashboard_are_inert(world: World) -> None:
    for payload in SHORT_PAYLOADS[:6]:
        world.client("anonymous").get(f"/kb/search?q=zzqv {payload}").close()
    assert_inert(world.client("manager"), "/metrics")


def test_macros_and_their_placeholders(world: World) -> None:
    macros = world.content_dir / "macros"
    (macros / "xss-macro.md").write_text(
        f"---\ntitle: '{SHORT_PAYLOADS[1]}'\n---\n{ALL_PAYLOADS}\n\n"
        "Hi {{customer_name}}, about {{ticket_subject}}.\n", encoding="utf-8")
    try:
        browser: PortalClient = world.app.test_client()  # type: ignore[assignment]
        number = _new_ticket(browser, SHORT_PAYLOADS[10], "Help", name=SHORT_PAYLOADS[2][:120],
                             email="macro@xss.example")
        # Anonymous: the page that says to check the inbox repeats the subject.
        assert_inert(browser, f"/tickets/sent/{number}")
        agent = world.client("agent")
        assert_inert(agent, f"/tickets/{number}")
        assert_inert(agent, f"/tickets/{number}/macro?name=xss-macro")
        assert_inert(agent, f"/tickets/{number}/macro?name=ask-for-details")
    finally:
        (macros / "xss-macro.md").unlink()


def test_csat_comment_and_vote_comment(world: World) -> None:
    customer = world.client("customer")
    number = _new_ticket(customer, "Rate me", "Please solve.")
    with world.app.app_context():
        ticket = ticket_services.get_ticket(number)
        assert ticket is not None
        agent_actor = Actor(world.user_ids["agent"], "Agent Person", True)
        ticket_services.change_status(ticket.id, TicketStatus.SOLVED, actor=agent_actor)
    response = customer.post(f"/tickets/{number}/rate",
                             data={"score": "1", "comment": ALL_PAYLOADS[:1900]})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert_inert(customer, f"/tickets/{number}", shows_payload=False)
    assert_inert(world.client("agent"), f"/tickets/{number}")  # the comment is shown here
    vote = world.client("anonymous").post(f"/kb/{world.article_slug}/vote",
                                          data={"helpful": "no", "comment": ALL_PAYLOADS})
    assert vote.status_code == 303
    assert_inert(world.client("anonymous"), f"/kb/{world.article_slug}", shows_payload=False)


# --- CSV exports: formula injection --------------------------------------------------------

FORMULAS = ("=HYPERLINK(\"https://evil.example\",\"x\")", "+SUM(1,2)", "-2+3+cmd|' /C calc'!A0",
            "@SUM(A1:A2)", "=1+1\tzzqv", "\t=1+2", "\r=1+3")
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
EXPORTS = ("kpis", "tickets", "funnel", "series", "categories", "articles", "zero_results",
           "no_click", "handoff_topics", "unhelpful", "agents", "teams")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_csv_exports_neutralise_formulas(world: World) -> None:
    anonymous = world.client("anonymous")
    # Searched more often than anything else so far, so they top the failed-search table.
    for formula in FORMULAS * 6:
        anonymous.get("/kb/search", query_string={"q": f"{formula} zzqv"}).close()
    with world.app.app_context():
        account_services.create_user("formula@xss.example", "=cmd|' /C calc'!A0",
                                     DEFAULT_PASSWORD, Role.AGENT)
    manager = world.client("manager")
    seen: list[str] = []
    for table in EXPORTS:
        response = manager.get(f"/metrics/export/{table}.csv")
        if response.status_code == 404:
            continue  # a table this dashboard does not have
        assert response.status_code == 200 and response.mimetype == "text/csv", table
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        for row in csv.reader(io.StringIO(response.get_data(as_text=True))):
            for cell in row:
                seen.append(cell)
                assert _is_number(cell) or not cell.startswith(DANGEROUS_START), (table, cell)
    # The formulas reached an export, quoted: otherwise the check above saw nothing.
    assert any("hyperlink" in cell.lower() for cell in seen)
    assert any(cell.startswith(("'+sum", "'=")) for cell in seen)

