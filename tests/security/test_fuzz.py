"""Odd input on every route: each form field and query parameter a view reads gets huge and
negative numbers, Unicode digits, a file part, very long text, repeats, emoji, RTL text and
CR/LF. Every answer must be a page or a clear 4xx (never a 5xx), arrive within a bound, carry
only headers a server can send, and leave the database answering.

The parameters are found, not listed: the names a view (and the portal functions it calls)
reads with `.get(...)`/`.getlist(...)` on `request.args`/`request.form`, the fields of the
WTForms classes it builds, the inputs of the portal's own rendered forms that post to it,
and the route rule's own form and query.
"""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from types import FunctionType, MethodType, ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select, text
from werkzeug.exceptions import HTTPException
from wtforms.fields.core import UnboundField

from portal.accounts.models import User
from portal.chat import services as chat_services
from portal.extensions import db
from portal.kb import editing
from portal.tickets import services as ticket_services

from .conftest import World
from .route_rules import RULES, Rule, allowed_persona

IGNORED_METHODS = {"HEAD", "OPTIONS"}
# A file part stands in for text; a list is sent as the same name repeated.
FILE_PART = object()
SHAPES: dict[str, Any] = {
    "20 digits": "9" * 20,
    "50 digits": "9" * 50,
    "negative": "-1",
    "negative 20 digits": "-" + "9" * 20,
    "superscript two": "²",
    "Arabic-Indic digits": "١٢٣",
    "fullwidth five": "５",
    "file part": FILE_PART,
    "10,000 characters": "x" * 10_000,
    "repeated": ["1", "²"],
    "emoji": "😀🔥👍🏽",
    "RTL text": "\u202eمرحبا بالعالم",
    "CR/LF inside": "first line\r\nSet-Cookie: fuzz=1",
    "trailing newline": "account\n",
}
# Long enough for a slow machine composing a chat answer; a hung connection never ends.
RESPONSE_BOUND_SECONDS = 30.0
# Names no person types: the CSRF token is the subject of test_csrf.py.
NOT_FUZZED = {"csrf_token"}


# --- which parameters each view reads ------------------------------------------------------


@dataclass
class Reads:
    query: set[str]
    form: set[str]


def _source_tree(function: FunctionType) -> ast.AST | None:
    try:
        return ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The object a call's name (`helper`, `services.parse`, `Form.build`) refers to."""
    if isinstance(node, ast.Name):
        return namespace.get(node.id)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, namespace)
        if isinstance(owner, ModuleType | type):
            return getattr(owner, node.attr, None)
    return None


def _portal_function(target: Any) -> FunctionType | None:
    if isinstance(target, MethodType):
        target = target.__func__
    if isinstance(target, FunctionType) and target.__module__.startswith("portal."):
        return target
    return None


def _form_fields(form_class: type) -> set[str]:
    return {name for name, value in inspect.getmembers(form_class)
            if isinstance(value, UnboundField)}


def _where(receiver: str, method: str) -> str:
    if receiver.endswith("args"):
        return "query"
    if receiver.endswith("form"):
        return "form"
    return "query" if method == "GET" else "form"


def _reads(function: FunctionType, method: str, depth: int = 0,
           seen: set[FunctionType] | None = None) -> tuple[Reads, dict[int, str]]:
    """The literal names `function` reads, and which of its parameters it uses as names
    (by position), so a caller's `_int_arg("page", 1)` counts as reading `page`."""
    seen = seen if seen is not None else set()
    reads = Reads(set(), set())
    param_keys: dict[int, str] = {}
    tree = _source_tree(function)
    if tree is None or function in seen:
        return reads, param_keys
    seen.add(function)
    params = list(inspect.signature(function).parameters)
    namespace = {**function.__globals__, **(inspect.getclosurevars(function).nonlocals)}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func
        if isinstance(callee, ast.Attribute) and callee.attr in ("get", "getlist") and node.args:
            receiver, key = ast.unparse(callee.value), node.args[0]
            if receiver.endswith(("args", "form", "values", "mapping")):
                where = _where(receiver, method)
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    getattr(reads, where).add(key.value)
                elif isinstance(key, ast.Name) and key.id in params:
                    param_keys[params.index(key.id)] = where
        target = _resolve(callee, namespace)
        if isinstance(target, type) and issubclass(target, FlaskForm):
            reads.form |= _form_fields(target)
            continue
        helper = _portal_function(target)
        if helper is None or depth >= 3:
            continue
        inner, inner_params = _reads(helper, method, depth + 1, seen)
        reads.query |= inner.query
        reads.form |= inner.form
        for position, where in inner_params.items():
            if position < len(node.args):
                argument = node.args[position]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    getattr(reads, where).add(argument.value)
    return reads, param_keys


class _FormInputs(HTMLParser):
    """Each <form>'s action, method and the names of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, set[str]]] = []
        self._open: tuple[str, str, set[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self._open = (values.get("action") or "", (values.get("method") or "get").upper(),
                          set())
            self.forms.append(self._open)
        elif tag in ("input", "select", "textarea", "button") and self._open and values.get(
                "name"):
            self._open[2].add(str(values["name"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


# --- the shared world, with things of its own to change ------------------------------------


@pytest.fixture(scope="module")
def fuzz_world(world: World) -> Iterator[World]:
    """The shared world's people, with their own ticket, chat and articles: fuzzing renames,
    closes and archives what it is pointed at, and the other modules still need theirs."""
    with world.app.app_context():
        customer = world.user_ids["customer"]
        own = ticket_services.create_ticket(
            subject="Fuzzing target", description="A ticket for odd input.",
            requester_id=customer, requester_email=None, requester_name=None)
        anonymous = ticket_services.create_ticket(
            subject="Fuzzing target by mail", description="Sent without an account.",
            requester_id=None, requester_email="fuzz@security.example", requester_name="Fuzz")
        conversation = chat_services.start_conversation(visitor_id="fuzz-visitor-0000000000",
                                                        user_id=customer)
        pending = chat_services.post_message(conversation, "How do I share access?")
        editor = editing.Editor(world.user_ids["editor"], "Editor Person")
        article = editing.ArticleForm(title="Fuzzing target article", slug="fuzz-target-article",
                                      category="account", status="published",
                                      body="Odd input lands here.\n")
        editing.save_article(None, article, editor)
        # A second save, so there is a revision to restore.
        second = editing.load_form("fuzz-target-article")
        assert second is not None
        second.body += "A second paragraph.\n"
        editing.save_article("fuzz-target-article", second, editor)
        throwaway = editing.save_article(None, editing.ArticleForm(
            title="Fuzzing archive target", slug="fuzz-archive-target", category="account",
            status="published", body="Archived by the fuzz test.\n"), editor).slug
        targets = replace(
            world, ticket_number=own.number, anon_ticket_number=anonymous.number,
            tracking_token=anonymous.url.rsplit("/", 1)[1], conversation_id=conversation.id,
            message_id=pending.id, article_slug="fuzz-target-article", throwaway_slug=throwaway,
            revision_id=editing.revisions("fuzz-target-article")[-1].id)
        db.session.remove()
    yield targets


def _routes(world: World) -> list[tuple[str, str]]:
    return sorted({(rule.endpoint, method) for rule in world.app.url_map.iter_rules()
                   for method in (rule.methods or set()) - IGNORED_METHODS
                   if rule.endpoint != "static"})


def _path(world: World, endpoint: str, rule: Rule) -> str:
    with world.app.test_request_context():
        return url_for(endpoint, **rule.url_args(world))


def _rendered_form_inputs(world: World, routes: list[tuple[str, str]]
                          ) -> dict[tuple[str, str], Reads]:
    """The inputs of every form on every page, under the route the form sends to."""
    found: dict[tuple[str, str], Reads] = defaultdict(lambda: Reads(set(), set()))
    adapter = world.app.url_map.bind("localhost")
    for endpoint, method in routes:
        rule = RULES[endpoint]
        if method != "GET":
            continue
        page = _path(world, endpoint, rule)
        for persona in {"anonymous", allowed_persona(rule)}:
            response = world.client(persona).get(page, query_string=rule.query(world))
            if "html" not in response.mimetype:
                response.close()
                continue
            parser = _FormInputs()
            parser.feed(response.get_data(as_text=True))
            response.close()
            for action, form_method, names in parser.forms:
                target = urlsplit(action).path or page
                try:
                    target_endpoint, _ = adapter.match(target, method=form_method)
                except HTTPException:
                    continue
                reads = found[(str(target_endpoint), form_method)]
                getattr(reads, "query" if form_method == "GET" else "form").update(names)
    return found


def _parameters(world: World, routes: list[tuple[str, str]]) -> dict[tuple[str, str], Reads]:
    rendered = _rendered_form_inputs(world, routes)
    parameters = {}
    for endpoint, method in routes:
        rule = RULES[endpoint]
        view = inspect.unwrap(world.app.view_functions[endpoint])
        reads, _ = _reads(view, method) if isinstance(view, FunctionType) else (
            Reads(set(), set()), {})
        reads.query |= set(rule.query(world)) | rendered[(endpoint, method)].query
        if method != "GET":
            reads.form |= set(rule.form(world)) | rendered[(endpoint, method)].form
        else:
            reads.form = set()
        reads.query -= NOT_FUZZED
        reads.form -= NOT_FUZZED
        parameters[(endpoint, method)] = reads
    return parameters


# --- sending, and what must hold for each answer -------------------------------------------


@dataclass
class Answer:
    status: int
    seconds: float
    headers: list[tuple[str, str]]


def _within_bound(call: Callable[[], Answer]) -> Answer | None:
    """The answer, or None when it did not finish in time (as a hung connection would)."""
    box: list[Answer | BaseException] = []

    def run() -> None:
        try:
            box.append(call())
        except BaseException as error:  # noqa: BLE001 - reported by the test below
            box.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(RESPONSE_BOUND_SECONDS)
    if not box:
        return None
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


def _value(shape: Any) -> Any:
    if shape is FILE_PART:
        return (io.BytesIO(b"not the text this field expects\n"), "odd.txt", "text/plain")
    return shape


def _send(world: World, persona: str, endpoint: str, method: str, rule: Rule,
          where: str, name: str, shape: Any) -> Answer | None:
    query: dict[str, Any] = dict(rule.query(world))
    form: dict[str, Any] = dict(rule.form(world)) if method != "GET" else {}
    (query if where == "query" else form)[name] = _value(shape)
    path = _path(world, endpoint, rule)
    client = world.client(persona)

    def call() -> Answer:
        started = time.monotonic()
        response = client.open(path, method=method, query_string=query,
                               data=form if method != "GET" else None)
        response.get_data()
        response.close()
        return Answer(response.status_code, time.monotonic() - started,
                      list(response.headers.items()))

    answer = _within_bound(call)
    if rule.signs_out and persona != "anonymous":
        world.sign_in(persona)
    return answer


def _header_problems(headers: list[tuple[str, str]]) -> list[str]:
    """Headers a WSGI server cannot send (PEP 3333: latin-1) or that split into two."""
    problems = []
    for key, value in headers:
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            problems.append(f"{key} is not latin-1: {value[:80]!r}")
        if "\r" in value or "\n" in value:
            problems.append(f"{key} holds CR/LF: {value[:80]!r}")
        if key.lower() == "content-disposition" and not value.isascii():
            problems.append(f"Content-Disposition is not ASCII: {value[:80]!r}")
    return problems


def _database_answers() -> int:
    db.session.rollback()
    assert db.session.execute(text("SELECT 1")).scalar() == 1
    users = db.session.scalar(select(func.count()).select_from(User)) or 0
    db.session.rollback()
    return users


def _shapes_for(where: str) -> dict[str, Any]:
    # A query string has no file parts.
    return {label: shape for label, shape in SHAPES.items()
            if where == "form" or shape is not FILE_PART}


def test_odd_input_on_every_route_gets_a_page_or_a_clear_refusal(fuzz_world: World) -> None:
    world = fuzz_world
    routes = _routes(world)
    parameters = _parameters(world, routes)
    with world.app.app_context():
        users_before = _database_answers()
    problems: list[str] = []
    requests = fields = 0
    started = time.monotonic()
    for endpoint, method in routes:
        rule = RULES[endpoint]
        reads = parameters[(endpoint, method)]
        for where, names in (("query", reads.query), ("form", reads.form)):
            for name in sorted(names):
                fields += 1
                for persona in dict.fromkeys(("anonymous", allowed_persona(rule))):
                    for label, shape in _shapes_for(where).items():
                        requests += 1
                        answer = _send(world, persona, endpoint, method, rule, where, name,
                                       shape)
                        where_sent = f"{method} {endpoint} {where} {name}={label} as {persona}"
                        if answer is None:
                            problems.append(f"{where_sent}: no answer within "
                                            f"{RESPONSE_BOUND_SECONDS:.0f} s")
                            continue
                        if answer.status >= 500:
                            problems.append(f"{where_sent}: {answer.status}")
                        problems += [f"{where_sent}: {problem}"
                                     for problem in _header_problems(answer.headers)]
    with world.app.app_context():
        assert _database_answers() == users_before
    shapes = len(SHAPES)
    print(f"\nfuzz: {len(routes)} routes, {fields} parameters ({shapes} shapes, "
          f"{shapes - 1} in a query string), {requests} requests "
          f"in {time.monotonic() - started:.0f} s")
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems)


# --- the findings the fuzzing turned up, each as a person would meet it ---------------------


def test_a_file_sent_instead_of_text_gets_a_message_and_signs_no_one_in(world: World) -> None:
    browser = world.fresh_client()
    for path, fields in (("/login", {"email": world.emails["customer"]}),
                         ("/register", {"name": "Sam", "password": "x" * 12,
                                        "confirm": "x" * 12})):
        response = browser.post(path, data={**fields, "email": _value(FILE_PART)})
        assert response.status_code == 400, path
        assert "This form takes typed text, not files" in response.get_data(as_text=True)
    assert browser.get("/account").status_code == 302  # still signed out


@pytest.mark.parametrize("conversation_id", ["9" * 20, "9" * 50, "²", "١٢٣"])
def test_a_conversation_id_that_cannot_be_a_row_names_no_conversation(
        world: World, conversation_id: str) -> None:
    customer = world.client("customer")
    for path in ("/chat/messages", "/chat/person"):
        response = customer.post(path, data={"conversation_id": conversation_id,
                                             "message": "Is there a family plan?"})
        assert response.status_code == 404, path
        assert "We could not find that page" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", ["q", "assignee", "team", "tier", "page"])
def test_unicode_digits_in_the_queue_filters_show_the_queue(world: World, name: str) -> None:
    for value in ("²", "١٢٣", "５", "9" * 50):
        response = world.client("agent").get("/tickets/queue", query_string={name: value})
        assert response.status_code == 200, value
        assert "<table" in response.get_data(as_text=True) or "No tickets" in \
            response.get_data(as_text=True)


@pytest.mark.parametrize(("filename", "fallback", "utf8"), [
    ("kpis-2026-01-01-١٢٣.csv", "kpis-2026-01-01.csv",
     "kpis-2026-01-01-%D9%A1%D9%A2%D9%A3.csv"),
    ('Relevé "mars"; size=1.pdf', "Releve_mars_size_1.pdf",
     "Relev%C3%A9%20%22mars%22%3B%20size%3D1.pdf"),
    ("../../etc/passwd", "etc_passwd", "etc_passwd"),
    ("report\r\nSet-Cookie: x=1.txt", "reportSet-Cookie_x_1.txt",
     "reportSet-Cookie%3A%20x%3D1.txt"),
    ("😀", "download", "%F0%9F%98%80"),
])
def test_a_download_header_keeps_the_name_and_carries_only_safe_ascii(
        filename: str, fallback: str, utf8: str) -> None:
    from portal.untrusted import content_disposition

    header = content_disposition(filename)
    assert header == f"attachment; filename={fallback}; filename*=UTF-8''{utf8}"
    assert header.isascii() and not any(ch in header for ch in "\r\n\"\\/")


def test_an_export_filtered_by_a_category_in_any_script_arrives(world: World) -> None:
    """Through a real HTTP server: a header it cannot encode used to leave the browser
    waiting on a connection that never answered."""
    import http.client
    from urllib.parse import quote

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, world.app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        manager = world.client("manager")
        manager.get("/metrics")  # the session cookie is set by now
        cookie = manager.get_cookie("session")
        assert cookie is not None
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        connection.request("GET", "/metrics/export/kpis.csv?category=" + quote("١٢٣"),
                           headers={"Cookie": f"session={cookie.value}"})
        response = connection.getresponse()
        body = response.read()
        connection.close()
    finally:
        server.shutdown()
        serving.join(timeout=5)
    assert response.status == 200
    disposition = response.getheader("Content-Disposition") or ""
    assert disposition.startswith("attachment; filename=kpis-")
    assert disposition.endswith("-%D9%A1%D9%A2%D9%A3.csv")
    assert body.decode().splitlines()[0].startswith("Metric") or body
