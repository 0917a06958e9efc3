"""Routing rules: a readable YAML file, validated with line numbers, applied in order.

The file (`content/routing.yml` unless `ROUTING_FILE` says otherwise) holds a list of
rules. Each rule has conditions (`when`) and actions (`then`); see docs/tickets.md for
the language. A file that does not parse or does not follow the schema is refused
with the line of the problem, and the rules that last worked stay active: they are
kept in the database (`RoutingRuleSet`), so a restart does not lose them either.

Evaluation is a pure function of the rules and the ticket's facts (`evaluate`), so
the preview page, the CLI and ticket creation give the same answer.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import select

from portal.extensions import db
from portal.inputs import parse_int
from portal.tickets.models import TEAM_SLUG, TIERS, RoutingRuleSet, TicketPriority, TicketSource
from portal.tickets.moods import NEUTRAL, SENTIMENTS

log = logging.getLogger(__name__)

CONDITIONS = ("category", "keywords", "source", "requester", "priority", "sentiment")
ACTIONS = ("team", "tier", "priority", "assign", "tag")
RULE_KEYS = ("name", "when", "then", "stop")
# A rule set that keeps changing the priority back and forth is stopped after this
# many restarts even if no state repeats (a repeat is caught much earlier).
MAX_RESTARTS = 20
MAX_FILE_BYTES = 256 * 1024
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}


class RuleFileError(ValueError):
    """The rule file is unusable; `line` is 1-based (0 when the whole file is at fault)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line
        self.message = message


@dataclass(frozen=True)
class Rule:
    name: str
    line: int
    category: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    requester: tuple[str, ...] = ()
    priority: tuple[str, ...] = ()
    sentiment: tuple[str, ...] = ()
    set_team: str | None = None
    set_tier: int | None = None
    set_priority: str | None = None
    set_assignee: str | None = None
    add_tags: tuple[str, ...] = ()
    stop: bool = False

    def matches(self, facts: TicketFacts, priority: str) -> bool:
        if self.category and (facts.category or "").lower() not in self.category:
            return False
        if self.source and facts.source not in self.source:
            return False
        if self.priority and priority not in self.priority:
            return False
        if self.sentiment and facts.sentiment not in self.sentiment:
            return False
        if self.requester and not any(_requester_matches(facts.requester_email, pattern)
                                      for pattern in self.requester):
            return False
        if self.keywords:
            text = f"{facts.subject}\n{facts.description}".lower()
            if not any(_keyword_pattern(word).search(text) for word in self.keywords):
                return False
        return True

    def apply(self, state: RoutingState) -> RoutingState:
        return RoutingState(
            team=self.set_team or state.team,
            tier=self.set_tier or state.tier,
            priority=self.set_priority or state.priority,
            assignee=self.set_assignee or state.assignee,
            tags=tuple(dict.fromkeys(state.tags + self.add_tags)),
        )


@dataclass(frozen=True)
class TicketFacts:
    """What rules may look at: the ticket as submitted."""

    subject: str
    description: str
    category: str | None
    source: str
    requester_email: str
    priority: str
    # The message's tone (tickets/moods.py); unscored messages count as neutral.
    sentiment: str = NEUTRAL


@dataclass(frozen=True)
class RoutingState:
    """What rules may change. None means "not set by any rule"."""

    team: str | None = None
    tier: int | None = None
    priority: str = "normal"
    assignee: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    state: RoutingState
    fired: tuple[str, ...] = ()
    # Set when the rules kept undoing each other: the names of the rules in the cycle.
    loop: tuple[str, ...] = ()

    @property
    def loop_message(self) -> str:
        if not self.loop:
            return ""
        return ("Rule loop: " + " → ".join(f"“{name}”" for name in self.loop)
                + " keep changing the priority back and forth; no rule was applied.")


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    digest: str
    origin: str = ""
    warnings: tuple[str, ...] = ()


# --- matching helpers -------------------------------------------------------------------


def _keyword_pattern(word: str) -> re.Pattern[str]:
    # Matches at the start of a word: "refund" finds "refunds" and "refunded", not "prefund".
    return re.compile(r"(?<!\w)" + re.escape(word))


def _requester_matches(email: str, pattern: str) -> bool:
    email = email.lower()
    if "@" in pattern and not pattern.startswith("@"):
        return email == pattern
    domain = pattern.lstrip("@")
    return email.endswith("@" + domain) or email.endswith("." + domain)


# --- evaluation ---------------------------------------------------------------------------


def evaluate(rules: Sequence[Rule], facts: TicketFacts) -> Decision:
    """Apply the rules in order.

    Conditions see the ticket as earlier rules left it. The priority is the one field
    that is both tested and set, so when a rule changes it evaluation starts again from
    the first rule. Coming back to a state seen at an earlier restart means the rules
    would go round forever: that is a loop, reported with the rules in it.
    """
    state = RoutingState(priority=facts.priority)
    seen: list[tuple[RoutingState, int]] = [(state, 0)]
    fired: list[str] = []
    index = 0
    while index < len(rules):
        rule = rules[index]
        index += 1
        if not rule.matches(facts, state.priority):
            continue
        changed = rule.apply(state)
        fired.append(rule.name)
        restart = changed.priority != state.priority
        state = changed
        if rule.stop:
            break
        if not restart:
            continue
        for earlier, position in seen:
            if earlier == state:
                cycle = tuple(dict.fromkeys(fired[position:]))
                return Decision(RoutingState(priority=facts.priority), tuple(fired), cycle)
        if len(seen) > MAX_RESTARTS:
            return Decision(RoutingState(priority=facts.priority), tuple(fired),
                            tuple(dict.fromkeys(fired)))
        seen.append((state, len(fired)))
        index = 0
    return Decision(state, tuple(dict.fromkeys(fired)))


def possible_loops(rules: Sequence[Rule]) -> list[str]:
    """Loops the rules could fall into if their other conditions held together.

    Each starting priority is tried with every condition except the priority taken
    as true; used to warn when the file is loaded, before a ticket runs into it.
    """
    relaxed = [replace(rule, category=(), keywords=(), source=(), requester=(), sentiment=())
               for rule in rules]
    found: list[str] = []
    for start in TicketPriority:
        facts = TicketFacts("", "", None, "form", "", str(start))
        decision = evaluate(relaxed, facts)
        if decision.loop:
            message = (f"Possible rule loop starting at priority {start}: "
                       + " → ".join(f"“{name}”" for name in decision.loop)
                       + " (when their other conditions hold together).")
            if message not in found:
                found.append(message)
    return found


# --- parsing --------------------------------------------------------------------------


def parse_rules(text: str, origin: str = "") -> RuleSet:
    """Parse and validate a rule file; raises RuleFileError naming the line at fault."""
    if len(text.encode()) > MAX_FILE_BYTES:
        raise RuleFileError(0, f"The rule file is larger than {MAX_FILE_BYTES // 1024} KiB.")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise RuleFileError(line, f"not valid YAML: {error.problem or error}") from None
    except yaml.YAMLError as error:
        raise RuleFileError(0, f"not valid YAML: {error}") from None
    except RecursionError:
        # `[[[[…` thousands deep: refused like any broken file, not a crash on every ticket.
        raise RuleFileError(0, "not valid YAML: lists or mappings nested too deeply.") from None
    digest = hashlib.sha256(text.encode()).hexdigest()
    if root is None:
        return RuleSet((), digest, origin)
    top = _mapping(root, "The file")
    unknown = [key for key in top if key != "rules"]
    if unknown:
        key_node = top[unknown[0]][0]
        raise RuleFileError(_line(key_node), f"unknown top-level key “{unknown[0]}”; "
                                             "the file holds one key, “rules”.")
    if "rules" not in top:
        return RuleSet((), digest, origin)
    rules_node = top["rules"][1]
    if _is_null(rules_node):
        return RuleSet((), digest, origin)
    if not isinstance(rules_node, yaml.SequenceNode):
        raise RuleFileError(_line(rules_node), "“rules” must be a list of rules (“- name: …”).")
    rules = tuple(_rule(node, number) for number, node in enumerate(rules_node.value, 1))
    named: set[str] = set()
    for rule in rules:
        if rule.name in named:
            raise RuleFileError(rule.line, f"two rules are called “{rule.name}”; "
                                           "give each rule its own name.")
        named.add(rule.name)
    return RuleSet(rules, digest, origin, tuple(possible_loops(rules)))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")


def _mapping(node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        raise RuleFileError(_line(node), f"{what} must be a mapping of “key: value” lines.")
    found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value).strip() if isinstance(key_node, yaml.ScalarNode) else ""
        if not key:
            raise RuleFileError(_line(key_node), "a key must be a plain word.")
        if key in found:
            raise RuleFileError(_line(key_node), f"“{key}” appears twice in the same place.")
        found[key] = (key_node, value_node)
    return found


def _scalar(node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node):
        raise RuleFileError(_line(node), f"{what} must be a single value.")
    value = " ".join(str(node.value).split())
    if not value:
        raise RuleFileError(_line(node), f"{what} must not be empty.")
    return value


def _values(node: yaml.Node, what: str) -> tuple[str, ...]:
    """One value or a list of them, as lower-case text."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    if not items:
        raise RuleFileError(_line(node), f"{what} must list at least one value.")
    return tuple(_scalar(item, what).lower() for item in items)


def _choice(node: yaml.Node, what: str, allowed: Sequence[str]) -> tuple[str, ...]:
    values = _values(node, what)
    for item, value in zip(node.value if isinstance(node, yaml.SequenceNode) else [node],
                           values, strict=True):
        if value not in allowed:
            raise RuleFileError(_line(item), f"{what} “{value}” is not one of: "
                                             f"{', '.join(allowed)}.")
    return values


def _tier(node: yaml.Node) -> int:
    value = _scalar(node, "tier").upper()
    labels = {label.upper(): number for number, label in enumerate(TIERS, 1)}
    if value in labels:
        return labels[value]
    number = parse_int(value, minimum=1, maximum=len(TIERS))
    if number is not None:
        return number
    raise RuleFileError(_line(node), f"tier “{value}” is not one of: {', '.join(TIERS)}.")


def _rule(node: yaml.Node, number: int) -> Rule:
    keys = _mapping(node, f"Rule {number}")
    line = _line(node)
    for key, (key_node, _value) in keys.items():
        if key not in RULE_KEYS:
            raise RuleFileError(_line(key_node), f"unknown key “{key}” in rule {number}; a rule "
                                                 f"has: {', '.join(RULE_KEYS)}.")
    name = _scalar(keys["name"][1], "name")[:80] if "name" in keys else f"rule {number}"
    if "then" not in keys:
        raise RuleFileError(line, f"rule “{name}” has no “then:” (what it should do).")
    values: dict[str, Any] = {"name": name, "line": line}

    if "when" in keys:
        when_node = keys["when"][1]
        conditions = {} if _is_null(when_node) else _mapping(when_node, "“when”")
        for key, (key_node, value_node) in conditions.items():
            if key not in CONDITIONS:
                raise RuleFileError(_line(key_node), f"unknown condition “{key}” in rule "
                                                     f"“{name}”; conditions are: "
                                                     f"{', '.join(CONDITIONS)}.")
            if key == "source":
                values["source"] = _choice(value_node, "source", [s.value for s in TicketSource])
            elif key == "priority":
                values["priority"] = _choice(value_node, "priority",
                                             [p.value for p in TicketPriority])
            elif key == "sentiment":
                values["sentiment"] = _choice(value_node, "sentiment", SENTIMENTS)
            elif key == "requester":
                values["requester"] = tuple(_requester(item) for item in (
                    value_node.value if isinstance(value_node, yaml.SequenceNode)
                    else [value_node]))
            else:
                values[key] = _values(value_node, key)

    then_node = keys["then"][1]
    actions = _mapping(then_node, "“then”")
    if not actions:
        raise RuleFileError(_line(then_node), f"rule “{name}” has an empty “then:”.")
    for key, (key_node, value_node) in actions.items():
        if key not in ACTIONS:
            raise RuleFileError(_line(key_node), f"unknown action “{key}” in rule “{name}”; "
                                                 f"actions are: {', '.join(ACTIONS)}.")
        if key == "team":
            slug = _scalar(value_node, "team").lower()
            if not TEAM_SLUG.fullmatch(slug):
                raise RuleFileError(_line(value_node), f"team “{slug}” is not a team name "
                                                       "(lower-case letters, digits, hyphens).")
            values["set_team"] = slug
        elif key == "tier":
            values["set_tier"] = _tier(value_node)
        elif key == "priority":
            values["set_priority"] = _choice(value_node, "priority",
                                             [p.value for p in TicketPriority])[0]
        elif key == "assign":
            values["set_assignee"] = _email(value_node)
        else:
            values["add_tags"] = tuple(tag[:40] for tag in _values(value_node, "tag"))

    if "stop" in keys:
        raw = _scalar(keys["stop"][1], "stop").lower()
        if raw not in _TRUE | _FALSE:
            raise RuleFileError(_line(keys["stop"][1]), "stop must be true or false.")
        values["stop"] = raw in _TRUE
    return Rule(**values)


def _email(node: yaml.Node) -> str:
    raw = _scalar(node, "assign")
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise RuleFileError(_line(node), f"assign “{raw}” is not an email address of an "
                                         "agent.") from None


def _requester(node: yaml.Node) -> str:
    value = _scalar(node, "requester").lower()
    domain = value.lstrip("@")
    if "@" in domain or "." not in domain or " " in domain:
        if "@" in value and not value.startswith("@"):
            try:
                return validate_email(value, check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                pass
        raise RuleFileError(_line(node), f"requester “{value}” is neither an email address nor "
                                         "a domain such as “@example.com”.")
    return "@" + domain


# --- the active rules -------------------------------------------------------------------


@dataclass
class _Cache:
    """Per application: what the file looked like last time, and the rules in force."""

    signature: tuple[int, int] | None = None
    active: RuleSet | None = None
    error: RuleFileError | None = None
    checked: bool = False
    # The active rules were added to a transaction that has not been seen committed yet.
    unsaved: bool = False
    source: str = ""


@dataclass(frozen=True)
class Status:
    path: str
    exists: bool
    active: RuleSet | None
    # The file's problem when it was refused (the previous rules are still in force).
    error: RuleFileError | None


def rules_path() -> Path:
    configured = current_app.config.get("ROUTING_FILE")
    if configured:
        return Path(configured)
    return Path(current_app.config["CONTENT_DIR"]) / "routing.yml"


def _cache() -> _Cache:
    cache = current_app.extensions.get("portal.routing")
    if cache is None:
        cache = current_app.extensions["portal.routing"] = _Cache()
    return cache


def _stored_rules() -> RuleSet | None:
    row = db.session.scalar(select(RoutingRuleSet).order_by(RoutingRuleSet.id.desc()).limit(1))
    if row is None:
        return None
    try:
        return parse_rules(row.source, row.origin)
    except RuleFileError:  # stored only after passing; a newer schema may refuse it
        log.warning("stored routing rules %s no longer validate", row.id)
        return None


def _save(cache: _Cache, text: str) -> None:
    """Keep the active rules in the database, in the caller's transaction.

    Routing runs inside ticket creation, whose transaction must stay whole (an email's
    log row and its ticket commit together), so nothing is committed here. Should the
    caller roll back, the next call finds the row missing and adds it again.
    """
    rules = cache.active
    if rules is None:
        return
    latest = db.session.scalar(
        select(RoutingRuleSet.digest).order_by(RoutingRuleSet.id.desc()).limit(1))
    if latest != rules.digest:
        db.session.add(RoutingRuleSet(digest=rules.digest, source=text, origin=rules.origin))
        log.info("routing rules activated from %s (%d rules)", rules.origin, len(rules.rules))
    cache.source = text
    cache.unsaved = latest != rules.digest


def status(*, force: bool = False) -> Status:
    """Re-read the rule file if it changed; activate it if valid, else keep the old rules."""
    cache = _cache()
    path = rules_path()
    try:
        info = path.stat()
        signature: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
    except OSError:
        signature = None
    if cache.checked and signature == cache.signature and not force:
        if cache.unsaved:
            _save(cache, cache.source)
        return Status(str(path), signature is not None, cache.active, cache.error)
    cache.checked, cache.signature = True, signature
    if signature is None:
        # No file: routing is switched off (every ticket goes to the default team).
        cache.active, cache.error = None, None
        return Status(str(path), False, None, None)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        cache.error = RuleFileError(0, f"cannot read {path.name}: {error}")
    else:
        try:
            rules = parse_rules(text, str(path))
        except RuleFileError as error:
            if cache.error is None or str(cache.error) != str(error):
                log.warning("routing rules in %s refused: %s", path, error)
            cache.error = error
        else:
            cache.active, cache.error = rules, None
            _save(cache, text)
    if cache.error is not None and cache.active is None:
        cache.active = _stored_rules()
    return Status(str(path), True, cache.active, cache.error)


def active_rules() -> tuple[Rule, ...]:
    current = status().active
    return current.rules if current is not None else ()
