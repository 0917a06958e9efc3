"""`portal demo seed`: realistic activity written through the real services.

Every search, view, vote, chat, hand-off, ticket, reply, solve and rating goes
through kb.services, chat.services and tickets.services, so every path that
writes events is exercised. Those services stamp events with the current time,
so each step remembers which events it produced and when it "happened"; at the
end one UPDATE statement (executed once per event) moves them to their
simulated times. Durations in first-response and solve events are rewritten to
the simulated ones, with `sla_met` against the ticket's own SLA targets.

Two events are emitted directly because only views produce them: opening the
new-ticket form and its suggestions (TICKET_FORM_OPENED, TICKET_FORM_SUGGESTIONS).
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import click
import yaml
from flask import current_app
from sqlalchemy import bindparam, func, select, text, update

from portal.accounts import services as accounts
from portal.accounts.models import Role
from portal.chat import services as chat
from portal.clock import utcnow
from portal.events import Event, EventKind, emit
from portal.extensions import db
from portal.kb import services as kb
from portal.metrics.rollup_tables import table_of
from portal.tickets import services as tickets

AUDIENCES = ("public", "customers")
DEMO_AGENT = tickets.Actor(None, "Demo Agent", True)
GAP_QUERIES = ["warranty claim", "cancel my order", "gift card", "solar panels", "error e42",
               "api token", "dark mode", "invoice vat number"]
HUMAN_WORDS = ["I need to talk to a person about my bill", "please connect me with an agent"]


CUSTOMER_WORDS_FILE = "_demo_customer_words.yml"


def load_customer_words() -> dict[str, list[str]]:
    """Per article slug, what demo customers say about it (content/_demo_customer_words.yml)."""
    path = Path(current_app.config["CONTENT_DIR"]) / CUSTOMER_WORDS_FILE
    if not path.is_file():
        return {}
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(slug): [str(w) for w in words if str(w).strip()]
            for slug, words in loaded.items() if isinstance(words, list)}


@dataclass
class SeedReport:
    visits: int = 0
    searches: int = 0
    conversations: int = 0
    tickets: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)


class _Backdater:
    """Collects (event id -> simulated time, data changes) for the events each step wrote."""

    def __init__(self) -> None:
        self.moves: dict[int, tuple[datetime, dict[str, Any] | None]] = {}
        self.last_id = db.session.scalar(select(func.max(Event.id))) or 0

    @contextmanager
    def at(self, moment: datetime) -> Iterator[list[int]]:
        produced: list[int] = []
        yield produced
        new_ids = list(db.session.scalars(
            select(Event.id).where(Event.id > self.last_id).order_by(Event.id)))
        for offset, event_id in enumerate(new_ids):
            self.moves[event_id] = (moment + timedelta(seconds=offset), None)
        if new_ids:
            self.last_id = new_ids[-1]
        produced.extend(new_ids)

    def patch(self, event_ids: list[int], kind: EventKind, changes: dict[str, Any]) -> None:
        for event_id in event_ids:
            row = db.session.get(Event, event_id)
            if row is not None and row.kind == str(kind):
                moment, _ = self.moves[event_id]
                self.moves[event_id] = (moment, {**(row.data or {}), **changes})

    def apply(self) -> int:
        table = table_of(Event)
        rows = [{"key": event_id, "at": moment, "data": data}
                for event_id, (moment, data) in self.moves.items()]
        plain = [r for r in rows if r["data"] is None]
        patched = [r for r in rows if r["data"] is not None]
        if plain:
            db.session.execute(update(table).where(table.c.id == bindparam("key"))
                               .values(occurred_at=bindparam("at")),
                               [{"key": r["key"], "at": r["at"]} for r in plain])
        if patched:
            db.session.execute(update(table).where(table.c.id == bindparam("key"))
                               .values(occurred_at=bindparam("at"), data=bindparam("data")),
                               patched)
        db.session.commit()
        return len(rows)


class _Seeder:
    def __init__(self, days: int, visits_per_day: int, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        # What agents do with the copilot's drafts is drawn from a stream of its own, so the
        # rest of the demo stays as it was without them.
        self.copilot = random.Random(seed + 11)  # noqa: S311 - demo data, not secrets
        self.days = days
        self.visits_per_day = visits_per_day
        self.report = SeedReport()
        self.moves = _Backdater()
        self.articles = self._catalogue()
        self.words = load_customer_words()
        self.customers = self._customers()
        self.visitors = [secrets.token_urlsafe(18) for _ in range(max(20, days * visits_per_day
                                                                        // 3))]
        self.signed_in: dict[str, Any] = {}
        self.agents = {user.id: tickets.Actor.of(user)
                       for user in accounts.users_with_role(Role.AGENT)}

    def customer_words(self, article: Any) -> str:
        """What a customer types about the article: a chat question or a ticket subject."""
        said = self.words.get(article.slug)
        return self.rng.choice(said) if said else f"Question about {article.title}"

    def _catalogue(self) -> list[Any]:
        found: dict[str, Any] = {}
        for category in kb.categories(AUDIENCES):
            results = kb.search_articles("", audiences=AUDIENCES, category=category.slug,
                                         per_page=20)
            for hit in results.hits:
                found[hit.slug] = hit
        return list(found.values())

    def _customers(self) -> list[Any]:
        people = accounts.users_with_role(Role.CUSTOMER)
        for number in range(max(0, 6 - len(people))):
            email = f"demo-shopper{number + 1}@example.com"
            if accounts.find_user_by_email(email) is None:
                people.append(accounts.create_user(
                    email, f"Demo Shopper {number + 1}", secrets.token_urlsafe(16) + "aA1!",
                    Role.CUSTOMER))
        return people

    def run(self, progress: bool) -> SeedReport:
        today = utcnow().date()
        first = today - timedelta(days=self.days)
        day_list = [first + timedelta(days=n) for n in range(self.days)]
        with click.progressbar(day_list, label="Seeding activity", show_pos=True,
                               file=None if progress else _Silent()) as bar:  # type: ignore[arg-type]
            for day in bar:
                weekend = day.weekday() >= 5
                visits = max(1, round(self.visits_per_day * (0.6 if weekend else 1.0)
                                      * self.rng.uniform(0.8, 1.2)))
                moments = sorted(datetime.combine(day, time(7)) + timedelta(
                    minutes=self.rng.uniform(0, 15 * 60)) for _ in range(visits))
                for moment in moments:
                    self.visit(moment)
        self.report.events = self.moves.apply()
        return self.report

    # --- one visit ---------------------------------------------------------------------

    def visit(self, moment: datetime) -> None:
        self.report.visits += 1
        visitor = self.rng.choice(self.visitors)
        user = self.signed_in.get(visitor)
        if user is None and self.rng.random() < 0.12:
            user = self.rng.choice(self.customers)
            with self.moves.at(moment - timedelta(minutes=1)):
                accounts.record_sign_in(user, visitor)
            self.signed_in[visitor] = user
        user_id = user.id if user is not None else None
        if not self.articles:
            return
        article = self.rng.choice(self.articles)
        moment = self.search_and_read(moment, visitor, user_id, article)
        roll = self.rng.random()
        if roll < 0.55:
            self.chat(moment + timedelta(minutes=2), visitor, user, article)
        elif roll < 0.7:
            self.ticket_form(moment + timedelta(minutes=3), visitor, user, article)

    def search_and_read(self, moment: datetime, visitor: str, user_id: int | None,
                        article: Any) -> datetime:
        gap = self.rng.random() < 0.12
        query = self.rng.choice(GAP_QUERIES) if gap else self.rng.choice(
            [article.title, article.title.split()[0], article.title.lower()[:18]])
        results = kb.search_articles(query, audiences=AUDIENCES, per_page=5)
        with self.moves.at(moment):
            search_id = kb.record_search(query, results.total, visitor_id=visitor,
                                         user_id=user_id)
        self.report.searches += 1
        if not results.hits or self.rng.random() > 0.65:
            return moment
        hit = results.hits[0] if self.rng.random() < 0.7 else self.rng.choice(results.hits)
        moment += timedelta(seconds=self.rng.uniform(5, 60))
        with self.moves.at(moment):
            kb.record_search_click(hit.slug, search_id=search_id, query=query, position=1,
                                   visitor_id=visitor, user_id=user_id)
            kb.record_view(hit.slug, visitor_id=visitor, user_id=user_id,
                           category=getattr(hit, "category", None))
        if self.rng.random() < 0.25:
            with self.moves.at(moment + timedelta(minutes=2)):
                kb.record_vote(hit.slug, helpful=self.rng.random() < 0.7, comment=None,
                               visitor_id=visitor, user_id=user_id, audiences=AUDIENCES)
        return moment

    def chat(self, moment: datetime, visitor: str, user: Any, article: Any) -> None:
        user_id = user.id if user is not None else None
        question = (self.rng.choice(HUMAN_WORDS) if self.rng.random() < 0.05 else
                    self.customer_words(article))
        with self.moves.at(moment):
            conversation = chat.start_conversation(visitor_id=visitor, user_id=user_id)
            pending = chat.post_message(conversation, question)
            for _ in chat.stream_reply(conversation, pending, audiences=AUDIENCES):
                pass
        self.report.conversations += 1
        answered = pending.kind == "answer"
        moment += timedelta(seconds=40)
        wants_ticket = not answered
        if answered:
            roll = self.rng.random()
            if roll < 0.4:
                with self.moves.at(moment):
                    chat.record_feedback(conversation, pending.id, True)
            elif roll < 0.62:
                with self.moves.at(moment):
                    chat.record_feedback(conversation, pending.id, False)
                wants_ticket = self.rng.random() < 0.7
            elif roll < 0.68:
                with self.moves.at(moment):
                    chat.request_handoff(conversation)
                wants_ticket = True
            elif roll < 0.76:
                # An assumed resolution that a later ticket from the same customer overturns.
                self.lifecycle(moment + timedelta(hours=self.rng.uniform(2, 120)),
                               lambda: self.create_form_ticket(visitor, user, article, None))
                return
        if wants_ticket and self.rng.random() < 0.85:
            fields = {"email": f"visitor-{visitor[:8].lower()}@example.com", "name": "Demo Visitor"}
            self.lifecycle(moment + timedelta(minutes=2),
                           lambda: chat.submit_handoff(conversation, fields, user=user))

    def ticket_form(self, moment: datetime, visitor: str, user: Any, article: Any) -> None:
        user_id = user.id if user is not None else None
        form_id = secrets.token_urlsafe(9)
        with self.moves.at(moment):
            emit(EventKind.TICKET_FORM_OPENED, visitor_id=visitor, user_id=user_id,
                 form_id=form_id)
            results = kb.search_articles(article.title, audiences=AUDIENCES, per_page=3)
            if results.hits and self.rng.random() < 0.85:
                emit(EventKind.TICKET_FORM_SUGGESTIONS, visitor_id=visitor, form_id=form_id,
                     article_slugs=[hit.slug for hit in results.hits])
            db.session.commit()
        if self.rng.random() < 0.45:
            self.lifecycle(moment + timedelta(minutes=self.rng.uniform(2, 20)),
                           lambda: self.create_form_ticket(visitor, user, article, form_id))

    def create_form_ticket(self, visitor: str, user: Any, article: Any,
                           form_id: str | None) -> Any:
        return tickets.create_ticket(
            subject=self.customer_words(article)[:120],
            description="I followed the article but it still does not work for me.",
            requester_id=user.id if user is not None else None,
            requester_email=None if user is not None else
            f"visitor{self.rng.randint(1, 9999)}@example.com",
            category=getattr(article, "category", None) or None,
            priority=self.rng.choice(["low", "normal", "normal", "normal", "high"]),
            source="form", visitor_id=visitor, form_id=form_id,
        )

    # --- a ticket's life ------------------------------------------------------------------

    def agent_for(self, ticket: Any) -> Any:
        """The ticket's assignee, else a demo agent (or a nameless one when none exists)."""
        if ticket.assignee_id in self.agents:
            return self.agents[ticket.assignee_id]
        if not self.agents:
            return DEMO_AGENT
        return self.agents[self.rng.choice(sorted(self.agents))]

    def show_draft(self, ticket: Any, created_at: datetime) -> datetime | None:
        """The copilot's draft put on the new ticket's page, as the copilot records it. The
        demo records the draft's life, not its text: composing one per demo ticket would
        embed every ticket of 90 days."""
        if self.copilot.random() < 0.1:
            return None
        drafted = created_at + timedelta(seconds=self.copilot.uniform(5, 60))
        with self.moves.at(drafted):
            emit(EventKind.COPILOT_DRAFT_SHOWN, ticket_id=ticket.id)
            db.session.commit()
        return drafted

    def decide_draft(self, ticket: Any, drafted: datetime, agent: Any) -> None:
        """About half the drafts sent as they were, a third edited, the rest discarded."""
        roll = self.copilot.random()
        outcome = "used" if roll < 0.5 else "edited" if roll < 0.82 else "discarded"
        share = {"used": 0.0, "edited": round(self.copilot.betavariate(2, 5), 3),
                 "discarded": None}[outcome]
        emit(EventKind.COPILOT_DRAFT, ticket_id=ticket.id, user_id=agent.id, outcome=outcome,
             changed_share=share, drafted_at=drafted.isoformat(), shown=True)

    def lifecycle(self, created_at: datetime, create: Callable[[], Any]) -> None:
        if created_at > utcnow():
            return
        try:
            with self.moves.at(created_at):
                ref = create()
        except tickets.TicketError as error:
            self.report.problems.append(f"ticket not created: {error}")
            db.session.rollback()
            return
        self.report.tickets += 1
        ticket = tickets.get_ticket(ref.number)
        if ticket is None:
            return
        agent = self.agent_for(ticket)
        response_target = (ticket.first_response_due - ticket.created_at).total_seconds()
        resolution_target = (ticket.resolution_due - ticket.created_at).total_seconds()
        now = utcnow()
        waited = self.rng.lognormvariate(1.3, 0.9) * 3600
        drafted = self.show_draft(ticket, created_at)
        if created_at + timedelta(seconds=waited) > now:
            return
        with self.moves.at(created_at + timedelta(seconds=waited)) as events:
            if ticket.assignee_id is None and agent.id is not None:
                tickets.claim(ticket.id, actor=agent)
            if drafted is not None:
                self.decide_draft(ticket, drafted, agent)
            tickets.reply(ticket.id, "Thanks for the details. Could you try the steps in the "
                          "linked article and tell us what you see?", actor=agent)
        self.moves.patch(events, EventKind.TICKET_FIRST_RESPONSE,
                         {"seconds": round(waited), "sla_met": waited <= response_target})
        if self.rng.random() > 0.85:
            return
        solved = waited + self.rng.lognormvariate(2.8, 1.0) * 3600
        if created_at + timedelta(seconds=solved) > now:
            return
        if self.rng.random() < 0.08:
            with self.moves.at(created_at + timedelta(seconds=(waited + solved) / 2)):
                try:
                    ticket = tickets.escalate(ticket.id, "Needs a specialist: the usual steps "
                                              "did not help.", actor=agent)
                except tickets.TicketError:
                    db.session.rollback()
            agent = self.agent_for(ticket)
        with self.moves.at(created_at + timedelta(seconds=solved)) as events:
            tickets.change_status(ticket.id, "solved", actor=agent)
        self.moves.patch(events, EventKind.TICKET_SOLVED,
                         {"seconds": round(solved), "sla_met": solved <= resolution_target})
        requester = tickets.Actor(ticket.requester_id, ticket.requester_name)
        if self.rng.random() < 0.07:
            reopened = solved + self.rng.uniform(2, 30) * 3600
            again = reopened + self.rng.uniform(2, 48) * 3600
            if created_at + timedelta(seconds=again) < now:
                with self.moves.at(created_at + timedelta(seconds=reopened)):
                    tickets.reply(ticket.id, "It happened again this morning.", actor=requester)
                with self.moves.at(created_at + timedelta(seconds=again)) as events:
                    tickets.change_status(ticket.id, "solved", actor=agent)
                self.moves.patch(events, EventKind.TICKET_SOLVED,
                                 {"seconds": round(again), "sla_met": again <= resolution_target})
                solved = again
        if self.rng.random() < 0.45 and created_at + timedelta(seconds=solved + 7200) < now:
            score = self.rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 5, 6])[0]
            try:
                with self.moves.at(created_at + timedelta(seconds=solved + 7200)):
                    tickets.rate(ticket.id, score, None, actor=requester)
            except tickets.TicketError:
                db.session.rollback()


class _Silent:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        return None


def seed_demo_activity(days: int = 90, *, visits_per_day: int = 10, seed: int = 2024,
                       progress: bool = True) -> SeedReport:
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        # Demo data: the services commit every step, and waiting for the disk each time
        # would triple the run. The CLI process ends right after.
        db.session.execute(text("PRAGMA synchronous=OFF"))
    try:
        return _Seeder(days, visits_per_day, seed).run(progress)
    finally:
        if sqlite:
            db.session.execute(text("PRAGMA synchronous=FULL"))


def has_activity() -> bool:
    """Whether anything beyond sign-ups and sign-ins was ever recorded."""
    return db.session.scalar(
        select(Event.id).where(Event.kind.not_in(
            (str(EventKind.USER_REGISTERED), str(EventKind.USER_SIGNED_IN)))).limit(1)
    ) is not None
