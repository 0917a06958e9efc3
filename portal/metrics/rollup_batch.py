"""One batch of events folded into the rollups (see `rollup.refresh`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, update

from portal.events import Event
from portal.extensions import db
from portal.metrics import definitions as d
from portal.metrics.draft_definitions import drafted_at
from portal.metrics.models import (
    ActorDay,
    ConversationRollup,
    DailyCount,
    FormRollup,
    IdentityLink,
    SearchRollup,
    TicketRollup,
    TicketSample,
)
from portal.metrics.people_definitions import NOBODY, agent_key
from portal.metrics.records import EventRecord, Identities, normalise_query, same_customer
from portal.metrics.rollup_conversations import recompute_conversations
from portal.metrics.rollup_rows import FormOpening, TicketIndex, TicketState
from portal.metrics.rollup_tables import (
    ALL_CATEGORIES,
    chunks,
    insert_statement,
    link_actor_days,
    parse_agent_id,
    table_of,
)


@dataclass
class Batch:
    events: list[EventRecord]
    links: dict[str, int] = field(default_factory=dict)
    counts: dict[tuple[str, date, str, str], int] = field(
        default_factory=lambda: defaultdict(int))
    actors: set[tuple[str, date, str, str]] = field(default_factory=set)
    tickets: dict[int, TicketState | None] = field(default_factory=dict)
    forms: list[FormOpening] = field(default_factory=list)
    searches: dict[str, SearchRollup] = field(default_factory=dict)
    new_searches: list[dict[str, Any]] = field(default_factory=list)
    clicked_searches: set[str] = field(default_factory=set)
    samples: list[dict[str, Any]] = field(default_factory=list)
    dirty_conversations: set[int] = field(default_factory=set)
    ticket_probes: list[TicketState] = field(default_factory=list)
    relinked_persons: set[str] = field(default_factory=set)
    relinked_visitors: set[str] = field(default_factory=set)
    new_links: list[dict[str, Any]] = field(default_factory=list)
    relinks: dict[str, str] = field(default_factory=dict)

    # --- reading what earlier batches left ---------------------------------------

    def person(self, user_id: int | None, visitor_id: str | None) -> str | None:
        return Identities(self.links).person(user_id, visitor_id)

    def load_links(self, visitors: Iterable[str | None]) -> None:
        wanted = sorted({v for v in visitors if v and v not in self.links})
        for part in chunks(wanted):
            for visitor, user in db.session.execute(
                select(IdentityLink.visitor_id, IdentityLink.user_id)
                .where(IdentityLink.visitor_id.in_(part))
            ):
                self.links[visitor] = user

    def prefetch(self) -> None:
        self.load_links(e.visitor_id for e in self.events)
        ticket_ids = sorted({e.ticket_id for e in self.events
                             if e.ticket_id is not None and e.kind != "ticket_created"})
        for part in chunks(ticket_ids):
            for row in db.session.scalars(
                select(TicketRollup).where(TicketRollup.ticket_id.in_(part))
            ):
                self.tickets[row.ticket_id] = TicketState(
                    row.ticket_id, row.created_at, row.category, row.visitor_id, row.person,
                    row.is_open, row.csat_score, row.csat_day, row.csat_bot,
                    assignee_id=row.assignee_id, team=row.team or "",
                    csat_agent_id=row.csat_agent_id, csat_team=row.csat_team,
                )
        search_ids = sorted({str(e.data.get("search_id")) for e in self.events
                             if e.kind == "search_click" and e.data.get("search_id")})
        for part in chunks(search_ids):
            for search in db.session.scalars(
                select(SearchRollup).where(SearchRollup.search_id.in_(part))
            ):
                self.searches[search.search_id] = search
        form_ids = sorted({str(e.data.get("form_id")) for e in self.events
                           if e.kind == "ticket_form_suggestions" and e.data.get("form_id")})
        for part in chunks(form_ids):
            for opening in db.session.scalars(
                select(FormRollup).where(FormRollup.form_id.in_(part))
            ):
                self.forms.append(FormOpening(
                    opening.form_id, opening.opened_at, opening.visitor_id, opening.person,
                    opening.id, opening.suggested, opening.ticket_followed))

    # --- folding events in -------------------------------------------------------------

    def apply(self) -> None:
        self.prefetch()
        for event in self.events:
            handler = getattr(self, f"on_{event.kind}", None)
            if handler is not None:
                handler(event)
            if event.conversation_id is not None and (
                event.kind in d.CONVERSATION_KINDS or event.kind == "ticket_created"
            ):
                self.dirty_conversations.add(event.conversation_id)
            if event.kind in d.SELF_SERVICE_KINDS:
                self.self_service(event)
        self.follow_tickets()
        self.flush()
        self.recompute_conversations(self.conversations_to_recompute())
        self.flush()

    def count(self, metric: str, moment: datetime | date, category: str | None = "",
              key: str | None = "", by: int = 1) -> None:
        day = moment.date() if isinstance(moment, datetime) else moment
        self.counts[(metric, day, category or "", key or "")] += by

    def self_service(self, event: EventRecord) -> None:
        actor = event.visitor_id or (f"u:{event.user_id}" if event.user_id else None)
        if actor is None:
            return
        day = event.occurred_at.date()
        self.actors.add(("self_service", day, ALL_CATEGORIES, actor))
        if event.kind in d.CATEGORISED_SELF_SERVICE:
            self.actors.add(("self_service", day, event.category or "", actor))

    def on_search(self, event: EventRecord) -> None:
        self.count("search", event.occurred_at)
        query = normalise_query(event.data.get("query", ""))
        has_results = int(event.data.get("results") or 0) > 0
        self.count("search_hit" if has_results else "search_zero", event.occurred_at, "", query)
        search_id = event.data.get("search_id")
        if search_id and str(search_id) not in self.searches:
            row = SearchRollup(search_id=str(search_id)[:64], day=event.occurred_at.date(),
                               query=query, had_results=has_results, clicked=False)
            self.searches[str(search_id)] = row
            self.new_searches.append({"search_id": row.search_id, "day": row.day,
                                      "query": query, "had_results": has_results,
                                      "clicked": False})

    def on_search_click(self, event: EventRecord) -> None:
        search_id = str(event.data.get("search_id") or "")
        search = self.searches.get(search_id)
        if search is None or search.clicked or search_id in self.clicked_searches:
            return
        self.clicked_searches.add(search_id)
        search.clicked = True
        if search.had_results:
            self.count("search_clicked", search.day, "", search.query)

    def on_article_view(self, event: EventRecord) -> None:
        if event.article_slug:
            self.count("article_view", event.occurred_at, event.category, event.article_slug)

    def on_article_vote(self, event: EventRecord) -> None:
        if event.article_slug:
            metric = "vote_helpful" if event.data.get("helpful") else "vote_unhelpful"
            self.count(metric, event.occurred_at, event.category, event.article_slug)

    def on_handoff(self, event: EventRecord) -> None:
        self.count("handoff", event.occurred_at, event.category, d.handoff_label(event))

    def on_ticket_form_opened(self, event: EventRecord) -> None:
        form_id = event.data.get("form_id")
        self.forms.append(FormOpening(str(form_id)[:64] if form_id else None, event.occurred_at,
                                event.visitor_id, self.person(event.user_id, event.visitor_id),
                                changed=True))

    def on_ticket_form_suggestions(self, event: EventRecord) -> None:
        form_id = event.data.get("form_id")
        if not form_id or not event.data.get("article_slugs"):
            return
        for form in self.forms:
            if form.form_id == str(form_id) and not form.suggested:
                form.suggested = form.changed = True

    def on_ticket_created(self, event: EventRecord) -> None:
        if event.ticket_id is None or self.tickets.get(event.ticket_id) is not None:
            return
        ticket = TicketState(event.ticket_id, event.occurred_at, event.category or "",
                         event.visitor_id, self.person(event.user_id, event.visitor_id),
                         is_new=True, assignee_id=parse_agent_id(event.data.get("agent_id")),
                         team=str(event.data.get("team") or ""))
        self.tickets[event.ticket_id] = ticket
        self.count("ticket_created", event.occurred_at, ticket.category)
        self.count("backlog", event.occurred_at, ticket.category)
        self.load(ticket, event.occurred_at, 1)
        customer = ticket.person or f"t:{ticket.ticket_id}"
        for category in (ticket.category, ALL_CATEGORIES):
            self.actors.add(("ticket_customer", event.occurred_at.date(), category, customer))
        self.ticket_probes.append(ticket)
        form_id = event.data.get("form_id")
        for form in self.forms:
            form_person = self.relinks.get(form.person or "", form.person)
            if form.opened_at <= event.occurred_at <= form.opened_at + d.FORM_WINDOW and (
                (form_id and form.form_id == str(form_id))
                or same_customer(form_person, form.visitor_id, ticket.person, ticket.visitor_id)
            ):
                form.ticket_followed = form.changed = True

    def known_ticket(self, event: EventRecord) -> TicketState | None:
        return self.tickets.get(event.ticket_id) if event.ticket_id is not None else None

    def sample(self, metric: str, event: EventRecord) -> None:
        sla = event.data.get("sla_met")
        category = self.ticket_category(event)
        agent = parse_agent_id(event.data.get("agent_id"))
        team = str(event.data.get("team") or "")[:40]
        self.samples.append({
            "metric": metric, "day": event.occurred_at.date(), "category": category,
            "seconds": float(event.data.get("seconds") or 0),
            "sla_met": sla if isinstance(sla, bool) else None, "agent_id": agent, "team": team,
        })
        # Per agent and team, the counts are kept as daily totals too: the dashboard sums
        # a few hundred rows instead of grouping every sample of the period.
        for side, holder in (("agent", agent_key(agent)), ("team", team)):
            self.count(f"{side}_{metric}", event.occurred_at, category, holder)
            if isinstance(sla, bool):
                self.count(f"{side}_sla", event.occurred_at, category, holder)
                if sla:
                    self.count(f"{side}_sla_met", event.occurred_at, category, holder)

    def load(self, ticket: TicketState, moment: datetime, by: int) -> None:
        """Open load per agent and team, kept like the backlog: +1 / -1 on the day it moves."""
        self.count("agent_load", moment, ticket.category, ticket.holder, by=by)
        self.count("team_load", moment, ticket.category, ticket.team, by=by)

    def set_open(self, event: EventRecord, is_open: bool) -> None:
        ticket = self.known_ticket(event)
        if ticket is None or ticket.is_open == is_open:
            return
        ticket.is_open, ticket.changed = is_open, True
        self.count("backlog", event.occurred_at, ticket.category, by=1 if is_open else -1)
        self.load(ticket, event.occurred_at, 1 if is_open else -1)

    def on_ticket_assigned(self, event: EventRecord) -> None:
        ticket = self.known_ticket(event)
        if ticket is None:
            return
        agent, team = parse_agent_id(event.data.get("agent_id")), str(event.data.get("team") or "")
        before = agent_key(event.data.get("previous_agent_id"))
        if before != NOBODY and before != agent_key(agent):
            self.count("agent_reassigned", event.occurred_at, ticket.category, before)
        before_team = str(event.data.get("previous_team") or "")
        if before_team and before_team != team:
            self.count("team_reassigned", event.occurred_at, ticket.category, before_team)
        if ticket.is_open:
            self.load(ticket, event.occurred_at, -1)
        ticket.assignee_id, ticket.team, ticket.changed = agent, team, True
        if ticket.is_open:
            self.load(ticket, event.occurred_at, 1)

    def on_ticket_first_response(self, event: EventRecord) -> None:
        self.sample("first_response", event)

    def on_ticket_solved(self, event: EventRecord) -> None:
        self.sample("resolution", event)
        self.set_open(event, False)

    def on_ticket_closed(self, event: EventRecord) -> None:
        self.set_open(event, False)

    def on_ticket_reopened(self, event: EventRecord) -> None:
        self.set_open(event, True)

    def on_csat(self, event: EventRecord) -> None:
        ticket = self.known_ticket(event)
        if ticket is None:
            return
        if ticket.csat_score is not None and ticket.csat_day is not None:
            # Only the latest rating of a ticket counts: take the earlier one back out.
            self.count("csat_bot" if ticket.csat_bot else "csat_human", ticket.csat_day,
                       ticket.category, str(ticket.csat_score), by=-1)
            self.count("agent_csat", ticket.csat_day, ticket.category,
                       f"{agent_key(ticket.csat_agent_id)}|{ticket.csat_score}", by=-1)
            self.count("team_csat", ticket.csat_day, ticket.category,
                       f"{ticket.csat_team or ''}|{ticket.csat_score}", by=-1)
        score = int(event.data.get("score") or 0)
        agent, team = parse_agent_id(event.data.get("agent_id")), str(event.data.get("team") or "")
        self.count("csat_bot" if event.data.get("source") == "chat" else "csat_human",
                   event.occurred_at, ticket.category, str(score))
        self.count("agent_csat", event.occurred_at, ticket.category,
                   f"{agent_key(agent)}|{score}")
        self.count("team_csat", event.occurred_at, ticket.category, f"{team}|{score}")
        ticket.csat_score = score
        ticket.csat_day = event.occurred_at.date()
        ticket.csat_bot = event.data.get("source") == "chat"
        ticket.csat_agent_id, ticket.csat_team = agent, team
        ticket.changed = True

    def ticket_category(self, event: EventRecord) -> str:
        ticket = self.known_ticket(event)
        return ticket.category if ticket is not None else (event.category or "")

    def on_copilot_draft_shown(self, event: EventRecord) -> None:
        self.count("copilot_shown", event.occurred_at, self.ticket_category(event))

    def on_copilot_draft(self, event: EventRecord) -> None:
        shown_at = drafted_at(event.data)
        if shown_at is None:
            return
        category = self.ticket_category(event)
        outcome = str(event.data["outcome"])
        self.count("copilot_decided", shown_at, category, outcome)
        if outcome == "edited":
            # Kept per value (rounded to 0.1%), like ratings per score: the median is read
            # from a few hundred daily counts, not from every edit of the period.
            share = float(event.data.get("changed_share") or 0)
            self.count("copilot_rewritten", shown_at, category, f"{share:.3f}")

    def on_user_signed_in(self, event: EventRecord) -> None:
        visitor, user = event.visitor_id, event.user_id
        if not visitor or user is None or visitor in self.links:
            return
        # Everything recorded under the bare browser now belongs to the account; the
        # rows are re-keyed in one go when the batch is written (`apply_relinks`).
        self.links[visitor] = user
        self.new_links.append({"visitor_id": visitor, "user_id": user})
        self.relinks[f"v:{visitor}"] = f"u:{user}"
        self.relinked_persons.add(f"u:{user}")
        self.relinked_visitors.add(visitor)

    def apply_relinks(self) -> None:
        if not self.relinks:
            return
        moves = self.relinks
        for ticket in self.tickets.values():
            if ticket is not None and ticket.person in moves:
                ticket.person = moves[ticket.person]
        for form in self.forms:
            if form.person in moves:
                form.person = moves[form.person]
        self.actors = {(role, day, category, moves.get(actor, actor))
                       if role == "ticket_customer" else (role, day, category, actor)
                       for role, day, category, actor in self.actors}
        params = [{"old": old, "new": new} for old, new in moves.items()]
        for model in (ConversationRollup, TicketRollup, FormRollup):
            table = table_of(model)
            db.session.execute(update(table).where(table.c.person == bindparam("old"))
                               .values(person=bindparam("new")), params)
        actors = table_of(ActorDay)
        for part in chunks(sorted(moves)):
            moved = db.session.execute(
                select(actors.c.day, actors.c.category, actors.c.actor)
                .where(actors.c.actor.in_(part), actors.c.role == "ticket_customer")
            ).all()
            if moved:
                db.session.execute(delete(actors).where(
                    actors.c.actor.in_(part), actors.c.role == "ticket_customer"))
                self.actors.update(("ticket_customer", day, category, moves[actor])
                                   for day, category, actor in moved)
        self.relinks = {}

    # --- what a batch changes elsewhere ----------------------------------------------------

    def follow_tickets(self) -> None:
        """New tickets close the form openings (of earlier batches) they followed."""
        if not self.ticket_probes:
            return
        self.apply_relinks()
        earliest = min(t.created_at for t in self.ticket_probes) - d.FORM_WINDOW
        latest = max(t.created_at for t in self.ticket_probes)
        known = {form.id for form in self.forms if form.id is not None}
        rows = db.session.scalars(
            select(FormRollup).where(FormRollup.opened_at.between(earliest, latest),
                                     FormRollup.ticket_followed.is_(False))
        ).all()
        forms = [FormOpening(r.form_id, r.opened_at, r.visitor_id, r.person, r.id, r.suggested,
                             False)
                 for r in rows if r.id not in known]
        form_ids = self.ticket_form_ids()
        by_form_id = {form_id: self.tickets[ticket_id] for ticket_id, form_id in form_ids.items()
                      if self.tickets.get(ticket_id) is not None}
        tickets_of = TicketIndex(self.ticket_probes)
        for form in forms:
            by_id = by_form_id.get(form.form_id) if form.form_id else None
            candidates = list(tickets_of.matching(form.person, form.visitor_id))
            if by_id is not None:
                candidates.append(by_id)
            if any(t is not None and form.opened_at <= t.created_at
                   <= form.opened_at + d.FORM_WINDOW for t in candidates):
                form.ticket_followed = form.changed = True
        self.forms.extend(f for f in forms if f.changed)
        self.read_before_tickets()

    def ticket_form_ids(self) -> dict[int, str]:
        return {e.ticket_id: str(e.data["form_id"]) for e in self.events
                if e.kind == "ticket_created" and e.ticket_id is not None
                and e.data.get("form_id")}

    def read_before_tickets(self) -> None:
        earliest = min(t.created_at for t in self.ticket_probes) - d.READ_BEFORE_TICKET_WINDOW
        latest = max(t.created_at for t in self.ticket_probes)
        views = db.session.execute(
            select(Event.article_slug, Event.occurred_at, Event.visitor_id, Event.user_id)
            .where(Event.kind == "article_view", Event.occurred_at.between(earliest, latest),
                   Event.article_slug.is_not(None))
        ).all()
        if not views:
            return
        self.load_links(v.visitor_id for v in views)
        by_person: dict[str, list[Any]] = defaultdict(list)
        by_visitor: dict[str, list[Any]] = defaultdict(list)
        for view in views:
            view_person = self.person(view.user_id, view.visitor_id)
            if view_person:
                by_person[view_person].append(view)
            if view.visitor_id:
                by_visitor[view.visitor_id].append(view)
        for ticket in self.ticket_probes:
            start = ticket.created_at - d.READ_BEFORE_TICKET_WINDOW
            nearby = (by_person.get(ticket.person or "", [])
                      + by_visitor.get(ticket.visitor_id or "", []))
            read = {view.article_slug for view in nearby
                    if start <= view.occurred_at <= ticket.created_at}
            for slug in read:
                self.count("read_before_ticket", ticket.created_at, ticket.category, slug)

    def conversations_to_recompute(self) -> set[int]:
        dirty = set(self.dirty_conversations)
        persons = {t.person for t in self.ticket_probes if t.person} | self.relinked_persons
        visitors = {t.visitor_id for t in self.ticket_probes if t.visitor_id} | \
            self.relinked_visitors
        candidates: list[Any] = []
        for column, keys in ((ConversationRollup.person, persons),
                             (ConversationRollup.visitor_id, visitors)):
            for part in chunks(sorted(keys)):
                candidates += db.session.execute(
                    select(ConversationRollup.conversation_id, ConversationRollup.person,
                           ConversationRollup.visitor_id, ConversationRollup.started_at,
                           ConversationRollup.anchor)
                    .where(column.in_(part))
                ).all()
        tickets_of = TicketIndex(self.ticket_probes)
        for row in candidates:
            if row.person in self.relinked_persons or row.visitor_id in self.relinked_visitors:
                dirty.add(row.conversation_id)
                continue
            if any(row.started_at <= t.created_at <= row.anchor + d.DURABLE_WINDOW
                   for t in tickets_of.matching(row.person, row.visitor_id)):
                dirty.add(row.conversation_id)
        return dirty

    def flush(self) -> None:
        self.apply_relinks()
        if self.counts:
            statement = insert_statement(DailyCount)
            statement = statement.on_conflict_do_update(
                index_elements=["metric", "day", "category", "key"],
                set_={"count": table_of(DailyCount).c.count + statement.excluded["count"]},
            )
            rows = [{"metric": m, "day": day, "category": c, "key": k, "count": n}
                    for (m, day, c, k), n in self.counts.items() if n]
            if rows:
                db.session.execute(statement, rows)
            self.counts.clear()
        if self.actors:
            db.session.execute(
                insert_statement(ActorDay).on_conflict_do_nothing(
                    index_elements=["role", "category", "day", "actor"]),
                [{"role": r, "day": day, "category": c, "actor": a}
                 for r, day, c, a in sorted(self.actors)],
            )
            link_actor_days(sorted({actor for _, _, _, actor in self.actors}))
            self.actors.clear()
        if self.new_searches:
            db.session.execute(insert_statement(SearchRollup).on_conflict_do_nothing(
                index_elements=["search_id"]), self.new_searches)
            self.new_searches.clear()
        if self.clicked_searches:
            table = table_of(SearchRollup)
            for part in chunks(sorted(self.clicked_searches)):
                db.session.execute(update(table).where(table.c.search_id.in_(part))
                                   .values(clicked=True))
            self.clicked_searches.clear()
        if self.samples:
            db.session.execute(insert_statement(TicketSample), self.samples)
            self.samples.clear()
        if self.new_links:
            db.session.execute(insert_statement(IdentityLink).on_conflict_do_nothing(
                index_elements=["visitor_id"]), self.new_links)
            self.new_links.clear()
        self.flush_tickets()
        self.flush_forms()

    def flush_tickets(self) -> None:
        fresh = [t for t in self.tickets.values() if t is not None and t.is_new]
        if fresh:
            db.session.execute(insert_statement(TicketRollup), [{
                "ticket_id": t.ticket_id, "created_at": t.created_at, "category": t.category,
                "visitor_id": t.visitor_id, "person": t.person, "is_open": t.is_open,
                "csat_score": t.csat_score, "csat_day": t.csat_day, "csat_bot": t.csat_bot,
                "assignee_id": t.assignee_id, "team": t.team, "csat_agent_id": t.csat_agent_id,
                "csat_team": t.csat_team,
            } for t in fresh])
        for ticket in fresh:
            ticket.is_new = ticket.changed = False
        changed = [t for t in self.tickets.values() if t is not None and t.changed]
        if changed:
            table = table_of(TicketRollup)
            db.session.execute(
                update(table).where(table.c.ticket_id == bindparam("key")).values(
                    is_open=bindparam("is_open"), csat_score=bindparam("csat_score"),
                    csat_day=bindparam("csat_day"), csat_bot=bindparam("csat_bot"),
                    person=bindparam("person"), assignee_id=bindparam("assignee_id"),
                    team=bindparam("team"), csat_agent_id=bindparam("csat_agent_id"),
                    csat_team=bindparam("csat_team")),
                [{"key": t.ticket_id, "is_open": t.is_open, "csat_score": t.csat_score,
                  "csat_day": t.csat_day, "csat_bot": t.csat_bot, "person": t.person,
                  "assignee_id": t.assignee_id, "team": t.team,
                  "csat_agent_id": t.csat_agent_id, "csat_team": t.csat_team}
                 for t in changed],
            )
        for ticket in changed:
            ticket.changed = False

    def flush_forms(self) -> None:
        fresh = [f for f in self.forms if f.id is None]
        if fresh:
            ids = db.session.scalars(
                insert_statement(FormRollup).returning(FormRollup.id, sort_by_parameter_order=True),
                [{"form_id": f.form_id, "opened_at": f.opened_at, "day": f.opened_at.date(),
                  "visitor_id": f.visitor_id, "person": f.person, "suggested": f.suggested,
                  "ticket_followed": f.ticket_followed} for f in fresh],
            ).all()
            for form, form_id in zip(fresh, ids, strict=True):
                form.id, form.changed = form_id, False
        changed = [f for f in self.forms if f.changed]
        if changed:
            table = table_of(FormRollup)
            db.session.execute(
                update(table).where(table.c.id == bindparam("key")).values(
                    suggested=bindparam("suggested"),
                    ticket_followed=bindparam("ticket_followed"), person=bindparam("person")),
                [{"key": f.id, "suggested": f.suggested, "ticket_followed": f.ticket_followed,
                  "person": f.person} for f in changed],
            )
        for form in changed:
            form.changed = False

    def recompute_conversations(self, conversation_ids: set[int]) -> None:
        for part in chunks(sorted(conversation_ids)):
            for key, change in recompute_conversations(part, self.links).items():
                self.counts[key] += change
