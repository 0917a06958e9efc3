"""Who may use each route: the one table the route x role matrix is checked against.

Every endpoint in `app.url_map` needs an entry here, or `test_access_matrix` fails and
names it. An entry says, for each persona, what must happen:

    ok         the view ran (2xx, a redirect that is not to sign-in, 409 or 422)
    login      302 to /login (signed-out visitors)
    forbidden  403 (signed in, wrong role)
    missing    404 (not yours: another customer's ticket or chat looks like no ticket at all)

and how to build the URL (path arguments from the shared world) and, for posts, a form
that the view accepts. Personas: anonymous, customer (owns the ticket and the chat),
other_customer (owns nothing of the first's), agent, editor, manager, admin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .conftest import World

PERSONA_ORDER = ("anonymous", "customer", "other_customer", "agent", "editor", "manager",
                 "admin")
ROLE_OF = {"customer": "customer", "other_customer": "customer", "agent": "agent",
           "editor": "editor", "manager": "manager", "admin": "admin"}

Access = Mapping[str, str]
Factory = Callable[["World"], dict[str, Any]]


def _nothing(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    access: Access
    url_args: Factory = _nothing
    form: Factory = _nothing
    query: Factory = _nothing
    # The request signs the persona out (logout): sign back in afterwards.
    signs_out: bool = False
    notes: str = ""


# --- who: the access patterns the portal uses -----------------------------------------------


def everyone() -> Access:
    return {persona: "ok" for persona in PERSONA_ORDER}


def signed_in() -> Access:
    return {persona: "login" if persona == "anonymous" else "ok" for persona in PERSONA_ORDER}


def roles(*allowed: str) -> Access:
    """role_required: admins always pass; signed-out visitors are sent to sign in."""
    access = {"anonymous": "login"}
    for persona, role in ROLE_OF.items():
        access[persona] = "ok" if role in allowed or role == "admin" else "forbidden"
    return access


def requester_or_agents() -> Access:
    """A ticket: its requester and the agents; to anyone else it does not exist."""
    return {"anonymous": "login", "customer": "ok", "other_customer": "missing", "agent": "ok",
            "editor": "missing", "manager": "missing", "admin": "ok"}


def requester_only() -> Access:
    """Rating a ticket: only the requester, staff included in the 'does not exist'."""
    return {"anonymous": "login", "customer": "ok", "other_customer": "missing",
            "agent": "missing", "editor": "missing", "manager": "missing", "admin": "missing"}


def conversation_owner() -> Access:
    """A chat belongs to one signed-in user (or one browser); it is 404 to everyone else."""
    return {persona: "ok" if persona == "customer" else "missing" for persona in PERSONA_ORDER}


# --- URL arguments and forms from the shared world -------------------------------------------


def ticket(world: World) -> dict[str, Any]:
    return {"number": world.ticket_number}


def conversation(world: World) -> dict[str, Any]:
    return {"conversation_id": world.conversation_id}


def message(world: World) -> dict[str, Any]:
    return {"conversation_id": world.conversation_id, "message_id": world.message_id}


def article(world: World) -> dict[str, Any]:
    return {"slug": world.article_slug}


def tracking(world: World) -> dict[str, Any]:
    return {"token": world.tracking_token}


def _link_target(world: World) -> Any:
    from portal.accounts import services

    user = services.get_user(world.link_target_id)
    assert user is not None
    return user


def reset_link(world: World) -> dict[str, Any]:
    from portal.accounts import tokens

    return {"token": tokens.reset_token(_link_target(world))}


def verify_link(world: World) -> dict[str, Any]:
    from portal.accounts import tokens

    return {"token": tokens.verify_token(_link_target(world))}


def fixed(**values: Any) -> Factory:
    return lambda world: dict(values)


def in_conversation(**values: Any) -> Factory:
    return lambda world: {"conversation_id": str(world.conversation_id), **values}


RULES: dict[str, Rule] = {
    # --- accounts ---
    "accounts.login": Rule(everyone()),
    "accounts.register": Rule(everyone()),
    "accounts.logout": Rule(everyone(), signs_out=True),
    "accounts.account": Rule(signed_in()),
    "accounts.sign_out_everywhere": Rule(signed_in(), signs_out=True),
    "accounts.resend_verification": Rule(signed_in()),
    "accounts.forgot_password": Rule(everyone(), form=fixed(email="nobody@security.example")),
    # A valid link for the customer; the posted password is too short, so the matrix
    # sees the form (422) without changing the password the world signs in with.
    "accounts.reset_password": Rule(everyone(), url_args=reset_link,
                                    form=fixed(password="short", confirm="short"),
                                    notes="the signed link is the credential"),
    "accounts.verify_email": Rule(everyone(), url_args=verify_link,
                                  notes="the signed link is the credential"),
    # --- core ---
    "core.healthz": Rule(everyone()),
    "core.theme_css": Rule(everyone()),
    "core.site_image": Rule(everyone(), url_args=fixed(kind="logo")),
    "static": Rule(everyone(), url_args=fixed(filename="css/portal.css")),
    # --- chat: public pages, but a conversation is its owner's alone ---
    "chat.home": Rule(everyone()),
    "chat.suggest": Rule(everyone(), query=fixed(q="how do I share access")),
    "chat.new_conversation": Rule(everyone()),
    "chat.post_message": Rule(conversation_owner(),
                              form=in_conversation(message="Is there a family plan?")),
    "chat.talk_to_person": Rule(conversation_owner(), form=in_conversation()),
    "chat.message_fragment": Rule(conversation_owner(), url_args=message),
    "chat.stream": Rule(conversation_owner(), url_args=message),
    "chat.feedback": Rule(conversation_owner(), url_args=message, form=fixed(helpful="yes")),
    "chat.retry": Rule(conversation_owner(), url_args=conversation),
    "chat.handoff": Rule(conversation_owner(), url_args=conversation, form=fixed(action="save")),
    # --- KB: public reading, editors write ---
    "kb.index": Rule(everyone()),
    "kb.search": Rule(everyone(), query=fixed(q="password")),
    "kb.open_result": Rule(everyone(), query=lambda w: {"slug": w.article_slug}),
    "kb.article": Rule(everyone(), url_args=article),
    "kb.vote": Rule(everyone(), url_args=article, form=fixed(helpful="yes")),
    "kb.editor_list": Rule(roles("editor")),
    "kb.editor_new": Rule(roles("editor")),
    "kb.editor_edit": Rule(roles("editor"), url_args=article),
    "kb.editor_preview": Rule(roles("editor"), form=fixed(body="# Preview")),
    "kb.editor_rename": Rule(roles("editor"), url_args=article, form=fixed(new_slug="")),
    "kb.editor_archive": Rule(roles("editor"), url_args=lambda w: {"slug": w.throwaway_slug}),
    "kb.editor_history": Rule(roles("editor"), url_args=article),
    "kb.editor_categories": Rule(roles("editor")),
    "kb.editor_site_history": Rule(roles("editor")),
    # No such version: refused with a message (a redirect), the site file untouched.
    "kb.editor_site_restore": Rule(roles("editor"), url_args=fixed(revision_id=999_999)),
    "kb.editor_restore": Rule(roles("editor"), url_args=lambda w: {
        "slug": w.article_slug, "revision_id": w.revision_id}),
    # --- metrics: managers ---
    "metrics.dashboard": Rule(roles("manager")),
    "metrics.export": Rule(roles("manager"), url_args=fixed(table="kpis")),
    # --- metrics: answer review, read by editors too ---
    "metrics.review_page": Rule(roles("manager", "editor")),
    "metrics.review_export": Rule(roles("manager", "editor")),
    "metrics.review_answer": Rule(roles("manager"), url_args=lambda w: {
        "conversation_id": w.conversation_id}, form=fixed(verdict="right"),
        notes="the shared chat is reviewed once (409 after), or 422 if not reviewable"),
    "content_gaps.report": Rule(roles("editor")),
    # --- tickets: customers see their own, agents work the queue ---
    "tickets.mine": Rule(signed_in()),
    "tickets.new": Rule(everyone()),
    "tickets.suggestions": Rule(everyone(), query=fixed(subject="password reset")),
    "tickets.detail": Rule(requester_or_agents(), url_args=ticket),
    "tickets.reply": Rule(requester_or_agents(), url_args=ticket,
                          form=fixed(body="A reply from the access matrix.")),
    "tickets.reopen": Rule(requester_or_agents(), url_args=ticket),
    "tickets.close": Rule(requester_or_agents(), url_args=ticket),
    "tickets.rate": Rule(requester_only(), url_args=ticket, form=fixed(score="5")),
    "tickets.sent": Rule({persona: "ok" if persona == "anonymous" else "missing"
                          for persona in PERSONA_ORDER},
                         url_args=lambda w: {"number": w.anon_ticket_number},
                         notes="only the browser that sent the anonymous ticket (the anonymous "
                               "persona's) sees this page"),
    "tickets.track": Rule(everyone(), url_args=tracking,
                          notes="the signed link is the credential of an anonymous requester"),
    "tickets.track_reply": Rule(everyone(), url_args=tracking,
                                form=fixed(body="A reply through the tracking link.")),
    "tickets.track_reopen": Rule(everyone(), url_args=tracking),
    "tickets.track_close": Rule(everyone(), url_args=tracking),
    "tickets.track_rate": Rule(everyone(), url_args=tracking, form=fixed(score="4")),
    "tickets.attachment": Rule(requester_or_agents(), url_args=lambda w: {
        "number": w.mail_ticket_number, "attachment_id": w.mail_attachment_id}),
    "tickets.track_attachment": Rule(everyone(), url_args=lambda w: {
        "token": w.mail_tracking_token, "attachment_id": w.mail_tracking_attachment_id},
        notes="the signed link is the credential of an anonymous requester"),
    "tickets.queue": Rule(roles("agent")),
    # A draft id that is not the ticket's is refused after the role check (tests/copilot).
    "copilot.send": Rule(roles("agent"), url_args=ticket,
                         form=fixed(draft_id="999999", body="Checked reply.")),
    "copilot.discard": Rule(roles("agent"), url_args=ticket, form=fixed(draft_id="999999")),
    "copilot.panel": Rule(roles("agent"), url_args=ticket),
    "tickets.bulk": Rule(roles("agent")),
    "tickets.note": Rule(roles("agent"), url_args=ticket, form=fixed(body="Internal note.")),
    "tickets.status": Rule(roles("agent"), url_args=ticket, form=fixed(status="open")),
    "tickets.priority": Rule(roles("agent"), url_args=ticket, form=fixed(priority="high")),
    "tickets.claim": Rule(roles("agent"), url_args=ticket),
    "tickets.assign": Rule(roles("agent"), url_args=ticket, form=fixed(assignee_id="")),
    "tickets.link": Rule(roles("agent"), url_args=ticket,
                         form=lambda w: {"slug": w.article_slug}),
    "tickets.kb_search": Rule(roles("agent"), url_args=ticket, query=fixed(q="password")),
    "tickets.macro": Rule(roles("agent"), url_args=ticket, query=fixed(name="ask-for-details")),
}

# Routing and teams (issue 8's routing work): managers shape teams and rules, agents move
# tickets between teams and tiers. Written against that work in progress; keep in step.
RULES.update({
    "tickets.teams": Rule(roles("manager")),
    "tickets.create_team": Rule(roles("manager"), form=fixed(slug="", name="")),
    "tickets.update_team": Rule(roles("manager"), url_args=fixed(slug="no-such-team"),
                                form=fixed(name="Renamed")),
    "tickets.set_member": Rule(roles("manager"), form=fixed(user_id="", team="", tier="")),
    "tickets.remove_member": Rule(roles("manager"),
                                  url_args=lambda w: {"user_id": w.user_ids["agent"]}),
    "tickets.routing": Rule(roles("manager"), query=fixed(preview="1", subject="Refund")),
    "tickets.reload_routing": Rule(roles("manager")),
    "tickets.escalate": Rule(roles("agent"), url_args=ticket, form=fixed(reason="")),
    "tickets.move_team": Rule(roles("agent"), url_args=ticket, form=fixed(team_id="")),
})


def rule_for(endpoint: str, method: str, path: str) -> Rule:
    """The endpoint's rule; a route nobody wrote a rule for fails the test that needs it."""
    rule = RULES.get(endpoint)
    if rule is None:
        pytest.fail(
            f"{method} {path} (endpoint {endpoint!r}) has no access rule. Add one to "
            "tests/security/route_rules.py saying which personas may use it (everyone(), "
            "signed_in(), roles(...), requester_or_agents(), ...) and how to build its URL."
        )
    return rule


def allowed_persona(rule: Rule) -> str:
    """Someone the route obeys, the most privileged first (their pages do the most)."""
    return next(p for p in ("admin", "customer", *PERSONA_ORDER) if rule.access[p] == "ok")
