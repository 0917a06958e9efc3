"""Figures as the dashboard and the CSV exports present them: labels, definitions, tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from portal.metrics.figures import DraftUsage, Funnel
from portal.metrics.people_definitions import PeopleRow
from portal.metrics.records import ratio
from portal.metrics.services import Dashboard

DASH = "—"

HELP: dict[str, str] = {
    "deflection_rate": "(confirmed + assumed) ÷ (confirmed + assumed + escalated) for chats "
    "started in the period. Abandoned chats are left out of both sides.",
    "confirmed_rate": "confirmed ÷ (confirmed + assumed + escalated): only chats where the "
    "customer said the answer solved the problem.",
    "conversations": "Chats started in the period (each counts once, with its outcome).",
    "confirmed": "The customer's last answer to “Did this solve it?” was yes (a “No” followed "
    "by a later “Yes” counts as confirmed), and no ticket was created from the chat.",
    "assumed": "The bot answered, there was no hand-off and no “No”, and no ticket came from "
    "the same account or browser within 72 h of the last answer.",
    "escalated": "A ticket was created from the chat, or the same account or browser filed a "
    "ticket within 72 h of the last answer (a late ticket turns “assumed” into escalated).",
    "abandoned": "Not resolved and no ticket followed: never answered, or handed off or told "
    "“No” without filing a ticket.",
    "durable_rate": "Resolved chats (confirmed or assumed) with no ticket from the same "
    "account or browser within 7 days of the last answer, ÷ all resolved chats.",
    "form_deflection": "New-ticket forms opened in the period that showed suggested articles "
    "and were followed by no ticket (with that form id, or from the same browser or account) "
    "within 1 h, ÷ forms that showed suggestions.",
    "self_service": "Browsers that searched, read or voted on an article, or chatted ÷ "
    "customers (accounts, or browsers without one) who created tickets in the period. A "
    "browser that later signed in counts as that account's customer.",
    "tickets_created": "Tickets created in the period, from every source (form, chat, email).",
    "backlog": "Tickets open at the end of the period: created and not solved or closed, or "
    "reopened since.",
    "first_response": "Time from creation to the first agent reply, for first replies sent in "
    "the period: median and 90th percentile (nearest rank).",
    "resolution": "Time from creation to solving, for every solve in the period (a reopened "
    "ticket solved again counts again, with its longer time): median and 90th percentile.",
    "sla": "First replies and solves in the period that met their SLA target ÷ those whose "
    "SLA was measured.",
    "csat_bot": "Latest satisfaction rating (1–5) of tickets that came from a chat hand-off, "
    "rated in the period: average, and share rating 4 or 5.",
    "csat_human": "Latest satisfaction rating (1–5) of tickets from the form or email, rated in "
    "the period: average, and share rating 4 or 5.",
    "funnel": "Volumes at each step in the period: searches, article views, chats started, "
    "hand-offs to a person, tickets created. Only hand-offs are a part of the step before "
    "(chats), so only they show a share of it; the other steps also count people who came "
    "another way (an article opened from a link, a ticket from the form or email), and "
    "each says what it counts.",
    "series": "Per day (per week for long ranges) by the day a chat started: the deflection "
    "rate and confirmed-only rate, and volumes.",
    "categories": "Chat outcomes by the category of the bot's first answer; hand-offs and "
    "tickets by their own category.",
    "articles": "Per article: views, helpful/unhelpful votes, chats that cited it and ended "
    "resolved or escalated, and tickets whose customer read it in the 24 h before filing.",
    "zero_results": "Searches (normalised: lower case, single spaces) that returned nothing.",
    "no_click": "Searches that returned results but whose results were never clicked.",
    "handoff_topics": "Hand-offs to a person by topic (or category when no topic was given).",
    "unhelpful": "Articles voted “not helpful” in the period, most votes first.",
    "agents": "Per agent. Open load: tickets open at the end of the period that the agent "
    "held. Solved and resolution median: solves in the period, credited to whoever held the "
    "ticket (or the agent who solved an unassigned one). First response median: first replies "
    "in the period by the agent who wrote them. SLA: those replies and solves that met their "
    "target. CSAT: the latest rating of tickets rated in the period, for whoever held them. "
    "Reassigned: tickets taken from the agent and given to someone else (or back to the "
    "queue) in the period.",
    "drafts": "Drafted replies the copilot put on a ticket page in the period (by the day it "
    "was shown, on tickets of the chosen category), and what the agent did with each. Used as "
    "drafted: sent without a change. Edited: sent after the agent changed it; the median share "
    "rewritten is how much of the draft's wording those agents rewrote (0% = nothing, 100% = "
    "all). Discarded: thrown away, or the agent replied another way. Pending: no decision yet; "
    "left out of the shares, which are of drafts decided.",
    "teams": "The same figures per team: the team that owned the ticket at each moment. "
    "Reassigned counts tickets moved from the team to another team.",
}


def pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def number(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


CSV_DURATION_UNIT = "hours"
# A day's rate from fewer chats than this is noise (one chat is 0% or 100%): the chart
# greys it out and leaves it out of the line.
MIN_CHATS_FOR_A_RATE = 5
# A tile is marked for attention only when it got worse by this much: smaller moves are the
# ordinary noise between two periods, and colouring them all hid the ones that matter.
ATTENTION_POINTS = 5.0  # rates, in percentage points
ATTENTION_PERCENT = 20.0  # counts, times and scores, relative to the previous period


def in_hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def score(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f} / 5"


def times(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f} : 1"


@dataclass(frozen=True)
class Tile:
    key: str
    label: str
    value: str
    previous: str
    change: str
    direction: str  # "up", "down", "flat" or "none"
    tone: str  # "good", "bad" or "neutral"
    note: str = ""
    attention: str = ""  # why a manager should look, when the figure got clearly worse

    @property
    def help(self) -> str:
        return HELP[self.key]


def _tile(key: str, label: str, now: float | None, before: float | None,
          show: Callable[[float | None], str], *, higher_is_better: bool | None,
          points: bool = False, note: str = "") -> Tile:
    if now is None or before is None:
        return Tile(key, label, show(now), show(before), "no comparison", "none", "neutral", note)
    if points:
        delta = (now - before) * 100
        change = f"{delta:+.1f} pts"
    elif before == 0:
        delta = now
        change = "new" if now else "no change"
    else:
        delta = (now - before) / abs(before) * 100
        change = f"{delta:+.0f}%"
    direction = "flat" if abs(delta) < 1e-9 else ("up" if delta > 0 else "down")
    if direction == "flat" or higher_is_better is None:
        tone = "neutral"
    else:
        tone = "good" if (direction == "up") == higher_is_better else "bad"
    attention = ""
    if tone == "bad" and (points or before != 0) and abs(delta) >= (
            ATTENTION_POINTS if points else ATTENTION_PERCENT):
        attention = (f"Needs attention: {'up' if direction == 'up' else 'down'} "
                     f"{change.lstrip('+-')} on the previous period ({show(before)}).")
    return Tile(key, label, show(now), show(before), change, direction, tone, note, attention)


def tiles(board: Dashboard) -> list[Tile]:
    now, before = board.current, board.previous
    o, p = now.outcomes, before.outcomes
    t, q = now.tickets, before.tickets
    return [
        _tile("deflection_rate", "Deflection rate", o.deflection_rate, p.deflection_rate, pct,
              higher_is_better=True, points=True,
              note=f"confirmed only {pct(o.confirmed_rate)}"),
        _tile("confirmed_rate", "Confirmed-only rate", o.confirmed_rate, p.confirmed_rate, pct,
              higher_is_better=True, points=True),
        _tile("conversations", "Chats", o.total, p.total, number, higher_is_better=None,
              note=f"{o.confirmed} confirmed · {o.assumed} assumed · {o.escalated} escalated · "
                   f"{o.abandoned} abandoned"),
        _tile("durable_rate", "Durable resolutions", o.durable_rate, p.durable_rate, pct,
              higher_is_better=True, points=True, note=f"{o.durable} of {o.resolved}"),
        _tile("form_deflection", "Ticket-form deflection", now.form.rate, before.form.rate, pct,
              higher_is_better=True, points=True,
              note=f"{now.form.deflected} of {now.form.with_suggestions} forms with suggestions"),
        _tile("self_service", "Self-service score", now.self_service.score,
              before.self_service.score, times, higher_is_better=True,
              note=f"{now.self_service.visitors} browsers · "
                   f"{now.self_service.ticket_customers} ticket customers"),
        _tile("tickets_created", "Tickets created", t.created, q.created, number,
              higher_is_better=False),
        _tile("backlog", "Backlog at period end", t.backlog, q.backlog, number,
              higher_is_better=False),
        _tile("first_response", "First response (median)", t.first_response.median,
              q.first_response.median, duration, higher_is_better=False,
              note=f"p90 {duration(t.first_response.p90)}"),
        _tile("resolution", "Resolution time (median)", t.resolution.median,
              q.resolution.median, duration, higher_is_better=False,
              note=f"p90 {duration(t.resolution.p90)}"),
        _tile("sla", "SLA attainment", t.sla_attainment, q.sla_attainment, pct,
              higher_is_better=True, points=True, note=f"{t.sla_met} of {t.sla_measured}"),
        _tile("csat_bot", "CSAT, bot-handled", t.csat_bot.average, q.csat_bot.average, score,
              higher_is_better=True,
              note=f"{t.csat_bot.responses} ratings · {pct(t.csat_bot.satisfied_rate)} 4–5"),
        _tile("csat_human", "CSAT, human-handled", t.csat_human.average, q.csat_human.average,
              score, higher_is_better=True,
              note=f"{t.csat_human.responses} ratings · {pct(t.csat_human.satisfied_rate)} 4–5"),
    ]


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    help_key: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    # How each column is shown on the page ("pct", "duration", "score" or "" for as is);
    # row_formats does the same per row, for tables of mixed figures.
    formats: tuple[str, ...] = ()
    row_formats: tuple[str, ...] = ()

    @property
    def help(self) -> str:
        return HELP[self.help_key]

    def csv_columns(self) -> list[str]:
        """The header as exported: a column of durations names its unit."""
        return [f"{column} ({CSV_DURATION_UNIT})" if self._kind(index) == "duration"
                else column for index, column in enumerate(self.columns)]

    def csv_rows(self) -> list[tuple[Any, ...]]:
        """The rows as exported: durations in hours (a spreadsheet sums them as they are),
        and a row of durations names the unit in its label."""
        exported = []
        for position, row in enumerate(self.rows):
            row_kind = self.row_formats[position] if position < len(self.row_formats) else ""
            cells = [in_hours(value) if index and (row_kind or self._kind(index)) == "duration"
                     else value for index, value in enumerate(row)]
            if row_kind == "duration":
                cells[0] = f"{row[0]} ({CSV_DURATION_UNIT})"
            exported.append(tuple(cells))
        return exported

    def _kind(self, index: int) -> str:
        return self.formats[index] if index < len(self.formats) else ""

    def shown(self, row: tuple[Any, ...], position: int = 0) -> list[str]:
        shown = []
        row_kind = self.row_formats[position] if position < len(self.row_formats) else ""
        for index, value in enumerate(row):
            kind = self.formats[index] if index < len(self.formats) else ""
            if index and row_kind:
                kind = row_kind
            if kind == "pct":
                shown.append(pct(value))
            elif kind == "duration":
                shown.append(duration(value))
            elif kind == "score":
                shown.append(score(value))
            elif kind == "times":
                shown.append(times(value))
            elif value is None:
                shown.append(DASH)
            elif isinstance(value, int | float):
                shown.append(number(value))
            else:
                shown.append(str(value) or "(none)")
        return shown


# Only a hand-off is always part of the step before it (a chat). The other steps are not
# drawn from the one above: people open articles from links without searching, start chats
# without reading, and file tickets from the form and by email. A share of the step before
# would pass 100% for those, so each says what it counts instead.
FUNNEL_PART_OF_PREVIOUS = {"handoffs"}
# Per step (a `Funnel` field): its label and what it counts.
FUNNEL_STEPS = {
    "searches": ("Searches", "searches in the help center and the ticket form"),
    "article_views": ("Article views",
                      "every view, also from links and browsing, not only from searches"),
    "chats": ("Chats", "every chat started, also without reading an article first"),
    "handoffs": ("Hand-offs", "chats that asked for a person"),
    "tickets": ("Tickets", "every ticket: chat hand-offs, the web form and email"),
}


@dataclass(frozen=True)
class FunnelStep:
    key: str
    label: str
    count: int
    share: float | None  # of the step before, only where this step is part of it
    note: str
    previous_label: str = ""

    @property
    def share_text(self) -> str:
        """"12.5% of chats", or nothing for a step that is not a part of the one before."""
        if self.share is None:
            return ""
        return f"{pct(self.share)} of {self.previous_label.lower()}"


def funnel_steps(funnel: Funnel) -> list[FunnelStep]:
    steps = funnel.steps()
    shown = []
    for i, (key, count) in enumerate(steps):
        label, note = FUNNEL_STEPS[key]
        part_of_previous = bool(i) and key in FUNNEL_PART_OF_PREVIOUS
        shown.append(FunnelStep(
            key, label, count, ratio(count, steps[i - 1][1]) if part_of_previous else None,
            note, FUNNEL_STEPS[steps[i - 1][0]][0] if part_of_previous else ""))
    return shown


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def tables(board: Dashboard, steps: list[FunnelStep]) -> dict[str, Table]:
    """Every table of the dashboard; `steps` are `funnel_steps(board.current.funnel)`,
    which the page also draws and lists."""
    report = board.current
    o, t = report.outcomes, report.tickets
    kpi_rows = (
        ("Chats", o.total, board.previous.outcomes.total),
        ("Confirmed", o.confirmed, board.previous.outcomes.confirmed),
        ("Assumed", o.assumed, board.previous.outcomes.assumed),
        ("Escalated", o.escalated, board.previous.outcomes.escalated),
        ("Abandoned", o.abandoned, board.previous.outcomes.abandoned),
        ("Deflection rate", _rounded(o.deflection_rate),
         _rounded(board.previous.outcomes.deflection_rate)),
        ("Confirmed-only rate", _rounded(o.confirmed_rate),
         _rounded(board.previous.outcomes.confirmed_rate)),
        ("Durable resolutions", o.durable, board.previous.outcomes.durable),
        ("Durable rate", _rounded(o.durable_rate), _rounded(board.previous.outcomes.durable_rate)),
        ("Forms opened", report.form.opened, board.previous.form.opened),
        ("Forms with suggestions", report.form.with_suggestions,
         board.previous.form.with_suggestions),
        ("Forms deflected", report.form.deflected, board.previous.form.deflected),
        ("Ticket-form deflection rate", _rounded(report.form.rate),
         _rounded(board.previous.form.rate)),
        ("Self-service browsers", report.self_service.visitors,
         board.previous.self_service.visitors),
        ("Ticket customers", report.self_service.ticket_customers,
         board.previous.self_service.ticket_customers),
        ("Self-service score", _rounded(report.self_service.score),
         _rounded(board.previous.self_service.score)),
    )
    previous_tickets = board.previous.tickets
    ticket_rows = (
        ("Tickets created", t.created, previous_tickets.created),
        ("Backlog at period end", t.backlog, previous_tickets.backlog),
        ("First replies", t.first_response.count, previous_tickets.first_response.count),
        ("First response median", t.first_response.median,
         previous_tickets.first_response.median),
        ("First response p90", t.first_response.p90, previous_tickets.first_response.p90),
        ("Solves", t.resolution.count, previous_tickets.resolution.count),
        ("Resolution median", t.resolution.median, previous_tickets.resolution.median),
        ("Resolution p90", t.resolution.p90, previous_tickets.resolution.p90),
        ("SLA measured", t.sla_measured, previous_tickets.sla_measured),
        ("SLA met", t.sla_met, previous_tickets.sla_met),
        ("SLA attainment", _rounded(t.sla_attainment), _rounded(previous_tickets.sla_attainment)),
        ("CSAT bot-handled ratings", t.csat_bot.responses, previous_tickets.csat_bot.responses),
        ("CSAT bot-handled average", _rounded(t.csat_bot.average),
         _rounded(previous_tickets.csat_bot.average)),
        ("CSAT human-handled ratings", t.csat_human.responses,
         previous_tickets.csat_human.responses),
        ("CSAT human-handled average", _rounded(t.csat_human.average),
         _rounded(previous_tickets.csat_human.average)),
    )
    funnel_rows = tuple((step.label, step.count, _rounded(step.share), step.note)
                        for step in steps)
    series_rows = tuple(
        (p.day.isoformat(), p.outcomes.total, p.outcomes.confirmed, p.outcomes.assumed,
         p.outcomes.escalated, p.outcomes.abandoned, _rounded(p.outcomes.deflection_rate),
         _rounded(p.outcomes.confirmed_rate), p.tickets, p.searches)
        for p in board.series
    )
    category_rows = tuple(
        (board.category_name(row.category), row.outcomes.total, row.outcomes.confirmed,
         row.outcomes.assumed, row.outcomes.escalated, row.outcomes.abandoned,
         _rounded(row.outcomes.deflection_rate), _rounded(row.outcomes.confirmed_rate),
         row.handoffs, row.tickets)
        for row in report.by_category
    )
    article_rows = tuple(
        (row.slug, row.views, row.helpful, row.unhelpful, row.cited_resolved,
         row.cited_escalated, _rounded(row.deflection_rate), row.read_before_ticket)
        for row in report.by_article
    )
    gaps = report.gaps
    return {
        "kpis": Table("kpis", "Deflection figures", "deflection_rate",
                      ("figure", "this period", "previous period"), kpi_rows,
                      row_formats=("", "", "", "", "", "pct", "pct", "", "pct", "", "", "",
                                   "pct", "", "", "times")),
        "tickets": Table("tickets", "Ticket KPIs", "tickets_created",
                         ("figure", "this period", "previous period"), ticket_rows,
                         row_formats=("", "", "", "duration", "duration", "", "duration",
                                      "duration", "", "", "pct", "", "score", "", "score")),
        "funnel": Table("funnel", "Funnel", "funnel",
                        ("step", "count", "of previous step", "counted from"),
                        funnel_rows, ("", "", "pct")),
        "series": Table("series", "Time series", "series",
                        ("from", "chats", "confirmed", "assumed", "escalated", "abandoned",
                         "deflection rate", "confirmed-only rate", "tickets", "searches"),
                        series_rows, ("", "", "", "", "", "", "pct", "pct")),
        "categories": Table("categories", "By category", "categories",
                            ("category", "chats", "confirmed", "assumed", "escalated",
                             "abandoned", "deflection rate", "confirmed-only rate", "hand-offs",
                             "tickets"), category_rows,
                            ("", "", "", "", "", "", "pct", "pct")),
        "articles": Table("articles", "By article", "articles",
                          ("article", "views", "helpful", "unhelpful", "cited, resolved",
                           "cited, escalated", "deflection rate", "read before a ticket"),
                          article_rows, ("", "", "", "", "", "", "pct")),
        "zero_results": Table("zero_results", "Searches with no results", "zero_results",
                              ("query", "searches"),
                              tuple((c.label, c.count) for c in gaps.zero_results)),
        "no_click": Table("no_click", "Searches with no click", "no_click",
                          ("query", "searches"),
                          tuple((c.label, c.count) for c in gaps.no_clicks)),
        "handoff_topics": Table("handoff_topics", "Hand-offs by topic", "handoff_topics",
                                ("topic", "hand-offs"),
                                tuple((c.label, c.count) for c in gaps.handoff_topics)),
        "unhelpful": Table("unhelpful", "Articles voted unhelpful", "unhelpful",
                           ("article", "unhelpful", "helpful"),
                           tuple((r.slug, r.unhelpful, r.helpful) for r in gaps.unhelpful)),
        "drafts": _drafts_table(board.drafts, board.previous_drafts),
        "agents": _people_table("agents", "By agent", board.people.agents, board.agent_names),
        "teams": _people_table("teams", "By team", board.people.teams, board.team_names),
    }


def _drafts_table(now: DraftUsage, before: DraftUsage) -> Table:
    return Table(
        "drafts", "Copilot drafts", "drafts",
        ("drafts", "this period", "share of decided", "previous period"),
        (
            ("Shown", now.shown, None, before.shown),
            ("Used as drafted", now.used, _rounded(now.used_share), before.used),
            ("Edited", now.edited, _rounded(now.edited_share), before.edited),
            ("Discarded", now.discarded, _rounded(now.discarded_share), before.discarded),
            ("Pending (no decision yet)", now.pending, None, before.pending),
            ("Share rewritten when edited (median)", _rounded(now.edited_rewritten_median),
             None, _rounded(before.edited_rewritten_median)),
        ),
        ("", "", "pct"),
        row_formats=("", "", "", "", "", "pct"),
    )


def _people_table(name: str, title: str, rows: tuple[PeopleRow, ...],
                  names: Mapping[str, str]) -> Table:
    return Table(
        name, title, name,
        (name[:-1], "open load", "solved", "resolution median", "first replies",
         "first response median", "SLA attainment", "CSAT average", "CSAT ratings",
         "CSAT 4–5", "reassigned"),
        tuple(
            (names.get(row.key, row.key), row.open_load, row.solved, row.resolution_median,
             row.responses, row.response_median, _rounded(row.sla_attainment),
             _rounded(row.csat.average), row.csat.responses, _rounded(row.csat.satisfied_rate),
             row.reassigned)
            for row in rows
        ),
        ("", "", "", "duration", "", "duration", "pct", "score", "", "pct"),
    )


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell as text; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
