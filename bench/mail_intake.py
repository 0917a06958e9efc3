"""Email intake: messages a second through the SMTP listener, and parsing memory.

    .venv/bin/python bench/mail_intake.py [--messages N] [--db sqlite,postgresql]

Each message goes over a real SMTP connection on loopback into `portal mail serve`'s
listener, becomes a ticket (committed) and gets its acknowledgement written to the outbox.
"""

from __future__ import annotations

import argparse
import os
import secrets
import smtplib
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from portal import create_app  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.tickets.mail.listener import start_listener  # noqa: E402
from portal.tickets.mail.parsing import parse  # noqa: E402
from portal.tickets.models import Ticket  # noqa: E402

PG_ADMIN = os.environ.get("PORTAL_TEST_PG_ADMIN",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def mail(number: int, attachment: int = 0) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Customer {number} <customer{number}@example.com>"
    message["To"] = "support@hearthly.example"
    message["Subject"] = f"Boiler problem number {number}"
    message["Message-ID"] = f"<bench-{number}-{secrets.token_hex(4)}@example.com>"
    message.set_content("Hello,\n\nThe boiler shows E42 since this morning.\n\n"
                        "On Mon, Support wrote:\n> earlier text\n" * 3)
    if attachment:
        message.add_attachment(b"\x01" * attachment, maintype="application",
                               subtype="octet-stream", filename="data.bin")
    return message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def throughput(backend: str, url: str, count: int) -> None:
    app = create_app({
        "ENV": "testing", "SECRET_KEY": secrets.token_urlsafe(40), "DATABASE_URL": url,
        "INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-mail-"),
        "MEILI_URL": "http://127.0.0.1:9",
    })
    with app.app_context():
        db.create_all()
        db.session.remove()
        port = free_port()
        controller = start_listener(app, "127.0.0.1", port)
        latencies: list[float] = []
        started = time.perf_counter()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                for number in range(count):
                    begin = time.perf_counter()
                    smtp.send_message(mail(number, attachment=50_000 if number % 10 == 0 else 0))
                    latencies.append((time.perf_counter() - begin) * 1000)
        finally:
            controller.stop()
        elapsed = time.perf_counter() - started
        made = db.session.scalar(select(func.count()).select_from(Ticket))
        db.session.remove()
        db.engine.dispose()
    print(f"{backend}: {count} messages in {elapsed:.1f}s = {count / elapsed:.1f} messages/s; "
          f"{made} tickets; per message p50 {statistics.median(latencies):.1f} ms, "
          f"p95 {percentile(latencies, 95):.1f} ms")


def parse_memory() -> None:
    for label, size, limit in (("1 MB attachment", 1_000_000, 15_000_000),
                               ("10 MB attachment (whole message read)", 10_000_000, 15_000_000),
                               ("25 MB attachment (over the limit: start read)",
                                25 * 1024 * 1024, 15_000_000)):
        raw = bytes(mail(0, attachment=size))
        tracemalloc.start()
        begin = time.perf_counter()
        parse(raw, max_message_bytes=limit, max_attachment_bytes=10_000_000)
        elapsed = time.perf_counter() - begin
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"parse, {label}: message {len(raw) / 1e6:.1f} MB, peak {peak / 1e6:.1f} MB, "
              f"{elapsed * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.db.split(","):
        if backend == "sqlite":
            throughput("sqlite", f"sqlite:///{tempfile.mkdtemp()}/bench.db", args.messages)
            continue
        name = f"bench_mail_{secrets.token_hex(3)}"
        admin = sqlalchemy.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            throughput("postgresql", PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args.messages)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    parse_memory()


if __name__ == "__main__":
    main()
