"""Load: customers and agents in a realistic mix against `portal serve`, driven by Locust.

    .venv/bin/python bench/load.py                          # 50 users for 60 s (issue 8)
    .venv/bin/python bench/load.py --duration 15 --users 20 # shorter, as CI runs it
    .venv/bin/python bench/load.py --url URL --json out.json

Without --url it builds its own production-like stack: a fresh database on the
PostgreSQL at 127.0.0.1:5432 with the demo data (`portal demo setup`), a private
Meilisearch started with a master key (the portal gets a scoped key), Redis for rate
limits when one answers on 127.0.0.1:6379, and `portal serve` (2 workers x 16 threads).
With --url the portal must already hold the load accounts (`prepare_accounts`).

Each simulated person comes through a reverse proxy with an address of their own
(X-Forwarded-For, TRUSTED_PROXIES=1), as in production, so per-address limits apply
to them one by one. Prints throughput, p50/p95/p99 per page, the error rate and the
RSS of the portal processes; --json writes the same plus every accepted submission.

The generator runs in a child process: Locust monkey-patches the standard library
with gevent on import, which nothing else here should see.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import PORTAL, PortalNode, PrivateMeili, wait_until  # noqa: E402

PG_ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
LOAD_PASSWORD = "load-password-123"  # noqa: S105 - throw-away accounts of the benchmark
CUSTOMERS = 60
AGENTS = 8
ACCEPTED_STATUSES = {200, 204, 302, 303}


def customer_email(number: int) -> str:
    return f"load-customer-{number}@example.com"


def agent_email(number: int) -> str:
    return f"load-agent-{number}@example.com"


def prepare_accounts(customers: int = CUSTOMERS, agents: int = AGENTS) -> None:
    """Accounts for the simulated people, each customer with one open ticket (idempotent).

    Call inside an app context of the portal under load.
    """
    from portal.accounts import services as accounts
    from portal.accounts.models import Role
    from portal.tickets import services as tickets

    for number in range(agents):
        if accounts.find_user_by_email(agent_email(number)) is None:
            accounts.create_user(agent_email(number), f"Load Agent {number}", LOAD_PASSWORD,
                                 Role.AGENT)
    for number in range(customers):
        if accounts.find_user_by_email(customer_email(number)) is not None:
            continue
        user = accounts.create_user(customer_email(number), f"Load Customer {number}",
                                    LOAD_PASSWORD, Role.CUSTOMER)
        tickets.create_ticket(
            subject=f"Thermostat {number} keeps losing Wi-Fi",
            description="It drops off the network every evening and comes back in the morning.",
            requester_id=user.id, requester_email=None, category="troubleshooting",
        )


# --- the generator (child process) ------------------------------------------------------------

QUERIES = [
    "reset password", "wifi offline", "refund", "thermostat schedule", "two factor",
    "invoice", "firmware update", "cancel subscription", "change email", "error e02",
]
QUESTIONS = [
    "How do I reset my password?", "My thermostat keeps going offline, what can I do?",
    "How do I get a refund for my order?", "How can I turn on two-factor authentication?",
    "Where can I download my invoice?", "How do I update the firmware?",
]
_CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
_TICKET = re.compile(r'href="/tickets/(\d+)"')
_ARTICLE = re.compile(r'href="/kb/([a-z0-9][a-z0-9-]*)"')
_HIT = re.compile(r'href="(/kb/search/open\?[^"]+)"')
_STREAM = re.compile(r'data-stream-url="([^"]+)"')
_CONVERSATION = re.compile(r'name="conversation_id" value="(\d+)"')


def generate(url: str, users: int, duration: float, out: Path, customers: int = CUSTOMERS,
             agents: int = AGENTS) -> None:
    import random

    import gevent
    from locust import FastHttpUser, between, events, task
    from locust.env import Environment

    started = time.time()
    accepted: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    chat_turns: list[dict[str, Any]] = []
    counter = iter(range(10**9))

    @events.request.add_listener
    def on_request(request_type: str, name: str, response_time: float, response_length: int,
                   response: Any = None, exception: Any = None, **_: Any) -> None:
        if exception is not None:
            status = getattr(response, "status_code", 0) or 0
            failures.append({"at": round(time.time(), 2), "page": name,
                             "status": status, "error": str(exception)[:200]})

    class Person(FastHttpUser):
        abstract = True
        host = url
        email = ""

        def on_start(self) -> None:
            number = next(counter)
            # A documentation-range address (RFC 5737): only a header value, never dialled.
            self.address = f"198.51.{100 + number // 250}.{number % 250 + 1}"
            self.csrf = ""
            self.sign_in(number)

        def call(self, method: str, path: str, name: str, **kwargs: Any) -> Any:
            headers = {"X-Forwarded-For": self.address, **kwargs.pop("headers", {})}
            if method == "POST":
                headers["X-CSRFToken"] = self.csrf
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                kwargs["data"] = urlencode(kwargs.get("data") or {})
            with self.client.request(method, path, name=name, headers=headers,
                                     allow_redirects=False, catch_response=True,
                                     **kwargs) as response:
                if response.status_code in ACCEPTED_STATUSES:
                    response.success()
                elif response.status_code:
                    response.failure(f"HTTP {response.status_code}")
                else:
                    response.failure(f"no response: {response.error!r}")
                return response

        def page(self, path: str, name: str, **kwargs: Any) -> str:
            response = self.call("GET", path, name, **kwargs)
            text = response.text or ""
            found = _CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return text

        def sign_in(self, number: int) -> None:
            self.page("/login", "/login")
            self.call("POST", "/login", "/login (submit)",
                      data={"email": self.account(number), "password": LOAD_PASSWORD})
            self.landed(self.page(self.landing, self.landing))

        def landed(self, text: str) -> None:
            """What a person sees first after signing in is what they can act on first."""

        def account(self, number: int) -> str:
            raise NotImplementedError

        def reply_to(self, number: str, text: str) -> None:
            """Reply on a ticket; an accepted reply is remembered to be looked up later."""
            marker = f"load-{secrets.token_hex(5)}"
            began = time.time()
            response = self.call("POST", f"/tickets/{number}/reply", "/tickets/[number]/reply",
                                 data={"body": f"{text} (ref {marker})"})
            if response.status_code in ACCEPTED_STATUSES:
                accepted.append({"kind": "ticket_reply", "marker": marker, "ticket": number,
                                 "at": round(began, 2)})

        landing = "/"

    class Customer(Person):
        weight = 6
        wait_time = between(1, 3)
        landing = "/tickets"

        def account(self, number: int) -> str:
            return customer_email(number % customers)

        def landed(self, text: str) -> None:
            # Customers land on "My tickets": they can reply without opening the list again.
            self.pick_ticket(text)

        def pick_ticket(self, tickets_page: str) -> bool:
            numbers = _TICKET.findall(tickets_page)
            if numbers:
                self.ticket = random.choice(numbers)
            return bool(numbers)

        @task(4)
        def search_as_you_type(self) -> None:
            query = random.choice(QUERIES)
            text = ""
            for end in range(3, len(query) + 1, 2):
                text = self.page("/kb/search?" + urlencode({"q": query[:end]}),
                                 "/kb/search (typing)",
                                 headers={"HX-Request": "true", "HX-Target": "search-results"})
                gevent.sleep(random.uniform(0.2, 0.4))
            hits = _HIT.findall(text)
            if hits:
                # The click goes through the tracking redirect, as a person's would.
                opened = self.call("GET", hits[0].replace("&amp;", "&"), "/kb/search/open")
                article = opened.headers.get("Location", "")
                if article.startswith("/kb/"):
                    self.page(article, "/kb/[article]")

        @task(3)
        def read_article(self) -> None:
            slugs = _ARTICLE.findall(self.page("/kb", "/kb"))
            if slugs:
                self.page(f"/kb/{random.choice(slugs)}", "/kb/[article]")

        @task(2)
        def chat_turn(self) -> None:
            marker = f"load-{secrets.token_hex(5)}"
            question = f"{random.choice(QUESTIONS)} (ref {marker})"
            data = {"message": question}
            if getattr(self, "conversation_id", None):
                data["conversation_id"] = self.conversation_id
            began = time.time()
            posted = self.call("POST", "/chat/messages", "/chat/messages", data=data,
                               headers={"HX-Request": "true"})
            if posted.status_code != 200:
                return
            accepted.append({"kind": "chat", "marker": marker,
                             "at": round(began, 2)})
            fragment = posted.text or ""
            conversation = _CONVERSATION.search(fragment)
            self.conversation_id = conversation.group(1) if conversation else None
            streams = _STREAM.findall(fragment)
            if streams:
                answer = self.call("GET", streams[-1], "/chat/[id]/stream")
                chat_turns.append({"at": round(began, 2),
                                   "seconds": round(time.time() - began, 3),
                                   "status": answer.status_code})

        @task(2)
        def my_tickets(self) -> None:
            if self.pick_ticket(self.page("/tickets", "/tickets")):
                self.page(f"/tickets/{self.ticket}", "/tickets/[number]")

        @task(1)
        def reply(self) -> None:
            number = getattr(self, "ticket", None)
            if number:
                self.reply_to(number, "Still happening this morning")

    class Agent(Person):
        weight = 2
        wait_time = between(1, 3)
        landing = "/tickets/queue"

        def account(self, number: int) -> str:
            return agent_email(number % agents)

        def landed(self, text: str) -> None:
            self.numbers = _TICKET.findall(text)

        @task(4)
        def queue(self) -> None:
            self.numbers = _TICKET.findall(self.page("/tickets/queue", "/tickets/queue"))

        @task(3)
        def view_ticket(self) -> None:
            if getattr(self, "numbers", None):
                self.page(f"/tickets/{random.choice(self.numbers)}", "/tickets/[number]")

        @task(1)
        def reply(self) -> None:
            if not getattr(self, "numbers", None):
                return
            self.reply_to(random.choice(self.numbers), "Could you try restarting the hub?")

    environment = Environment(user_classes=[Customer, Agent], events=events)
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=max(1, users / 3))
    gevent.spawn_later(duration, runner.quit)
    runner.greenlet.join()
    elapsed = time.time() - started

    pages = {}
    for (name, _method), entry in sorted(environment.stats.entries.items()):
        pages[name] = {
            "requests": entry.num_requests, "failures": entry.num_failures,
            "p50_ms": entry.get_response_time_percentile(0.5),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
    total = environment.stats.total
    out.write_text(json.dumps({
        "users": users, "seconds": round(elapsed, 1),
        "requests": total.num_requests, "failures": total.num_failures,
        "throughput_rps": round(total.num_requests / elapsed, 1),
        "pages": pages, "failed_requests": failures, "accepted": accepted,
        "chat_turns": chat_turns,
    }, indent=1))


# --- orchestration ----------------------------------------------------------------------------


def run_load(url: str, users: int, duration: float, nodes: list[PortalNode], out: Path,
             accounts: tuple[int, int] = (CUSTOMERS, AGENTS)) -> dict[str, Any]:
    """Run the generator against `url`, sampling the RSS of `nodes` meanwhile.

    `accounts`: how many load customers and agents `prepare_accounts` made.
    """
    child = subprocess.Popen([sys.executable, __file__, "--generator", "--url", url,
                              "--users", str(users), "--duration", str(duration),
                              "--accounts", f"{accounts[0]},{accounts[1]}",
                              "--json", str(out)])
    peak = 0
    samples: list[int] = []
    began = time.monotonic()
    last_report = began
    while child.poll() is None:
        rss = sum(node.rss_bytes() for node in nodes)
        if rss:
            samples.append(rss)
            peak = max(peak, rss)
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            print(f"  … {last_report - began:.0f} s, portal RSS {rss / 2**20:.0f} MiB",
                  flush=True)
        time.sleep(0.5)
    if child.returncode != 0:
        raise RuntimeError(f"the load generator failed (exit {child.returncode})")
    result = dict(json.loads(out.read_text()))
    result["rss_peak_mib"] = round(peak / 2**20)
    result["rss_mean_mib"] = round(sum(samples) / len(samples) / 2**20) if samples else 0
    result["processes"] = sum(len(node.pids()) for node in nodes)
    out.write_text(json.dumps(result, indent=1))
    return result


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['users']} users for {result['seconds']} s: {result['requests']} requests, "
          f"{result['throughput_rps']} req/s, {result['failures']} failed "
          f"({100 * result['failures'] / max(1, result['requests']):.2f} %)")
    print(f"{'page':<28}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'failed':>8}")
    for name, page in result["pages"].items():
        print(f"{name:<28}{page['requests']:>9}{page['p50_ms']:>9.0f}{page['p95_ms']:>9.0f}"
              f"{page['p99_ms']:>9.0f}{page['failures']:>8}")
    if "rss_peak_mib" in result:
        print(f"portal RSS ({result['processes']} processes): peak {result['rss_peak_mib']} MiB, "
              f"mean {result['rss_mean_mib']} MiB")
    for failure in result["failed_requests"][:10]:
        print(f"  failed at {failure['at']} s: {failure['page']} {failure['error']}")


def _redis_url() -> str:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=0.5).ping()
    except Exception:  # noqa: BLE001 - no Redis: the portal counts limits in memory
        return ""
    return "redis://127.0.0.1:6379/0"


def _clear_redis(url: str, prefix: str) -> None:
    if url:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)


def standalone(users: int, duration: float, out: Path) -> dict[str, Any]:
    import sqlalchemy

    from portal.kb.meili_binary import locate_binary

    binary = locate_binary(os.environ.get("MEILI_BIN", ""), Path("instance").resolve())
    if binary is None:
        raise SystemExit("No Meilisearch binary: run `make meili` first.")
    workdir = Path(tempfile.mkdtemp(prefix="portal-load-"))
    name = f"portal_load_{secrets.token_hex(4)}"
    prefix = f"load{secrets.token_hex(3)}"
    admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    meili = PrivateMeili(workdir / "meili", binary)
    redis_url = _redis_url()
    node: PortalNode | None = None
    try:
        meili.start()
        from portal.kb.engine import create_scoped_key

        env = {
            "PORTAL_ENV": "development", "SECRET_KEY": secrets.token_urlsafe(40),
            "DATABASE_URL": PG_ADMIN.rsplit("/", 1)[0] + f"/{name}",
            "INSTANCE_DIR": str(workdir / "instance"), "CONTENT_DIR": str(workdir / "content"),
            "MEILI_URL": meili.url, "MEILI_INDEX_PREFIX": prefix,
            "MEILI_API_KEY": create_scoped_key(meili.url, meili.master_key, prefix),
            "REDIS_URL": redis_url, "TRUSTED_PROXIES": "1",
        }
        shutil.copytree(Path("content").resolve(), env["CONTENT_DIR"])
        full_env = {**os.environ, **env}
        print("Preparing: migrations, demo data (about a minute)…", flush=True)
        subprocess.run([str(PORTAL), "db", "upgrade"], env=full_env, check=True,
                       capture_output=True)
        subprocess.run([str(PORTAL), "demo", "setup"], env=full_env, check=True)
        subprocess.run([sys.executable, __file__, "--prepare-accounts"], env=full_env,
                       check=True)
        node = PortalNode("load", env, workdir)
        node.start()
        node.wait_ready()
        wait_until(lambda: node is not None and node.rss_bytes() > 0, 10, "portal processes")
        print(f"Load: {users} users for {duration:.0f} s against {node.url}", flush=True)
        return run_load(node.url, users, duration, [node], out)
    finally:
        if node is not None:
            node.stop()
        meili.stop()
        _clear_redis(redis_url, prefix)
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="an already running portal (default: start one)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--accounts", default=f"{CUSTOMERS},{AGENTS}",
                        help="load customers,agents the portal holds (prepare_accounts)")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-accounts", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    customers, agents = (int(n) for n in args.accounts.split(","))
    if args.generator:
        generate(args.url, args.users, args.duration, args.json, customers, agents)
        return
    if args.prepare_accounts:
        from portal import create_app

        with create_app().app_context():
            prepare_accounts()
        return
    with tempfile.TemporaryDirectory(prefix="portal-load-") as scratch:
        out = args.json or Path(scratch) / "load.json"
        if args.url:
            result = run_load(args.url, args.users, args.duration, [], out, (customers, agents))
        else:
            result = standalone(args.users, args.duration, out)
    report(result)
    if result["failures"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
