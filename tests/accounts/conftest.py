"""Helpers for the account tests: the mail the portal wrote, and the links in it."""

from __future__ import annotations

import email
import re
from email.message import EmailMessage
from email.policy import default

import pytest
from flask import Flask

from portal.mail import outbox_dir


@pytest.fixture
def outbox(app: Flask):
    """outbox() -> the messages written so far in this test, oldest first."""
    with app.app_context():
        folder = outbox_dir()
    already = set(folder.glob("*.eml")) if folder.exists() else set()

    def read(to: str | None = None) -> list[EmailMessage]:
        fresh = sorted(set(folder.glob("*.eml")) - already) if folder.exists() else []
        messages = [email.message_from_bytes(path.read_bytes(), policy=default)
                    for path in fresh]
        return [m for m in messages if to is None or m["To"] == to]  # type: ignore[misc]

    return read


def link_in(message: EmailMessage, path_prefix: str) -> str:
    """The portal path of the one link in `message` that starts with `path_prefix`."""
    body = message.get_content()
    (url,) = re.findall(r"https?://\S+", body)
    path = re.sub(r"^https?://[^/]+", "", url)
    assert path.startswith(path_prefix), body
    return path
