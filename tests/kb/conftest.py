"""KB fixtures: a clean articles index per test, tiny content directories."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from portal.kb import search_index, sync
from portal.kb.engine import SearchEngine, get_engine


@pytest.fixture
def app_overrides() -> dict[str, Any]:
    # The chunk hook embeds text (slow); tests that need it turn it back on.
    return {"KB_SYNC_CHUNKS": False, "KB_EDITOR_CHUNKS": False}


@pytest.fixture(autouse=True)
def clean_index(app):
    """Each test starts with an empty articles index (the database is emptied anyway)."""
    engine = get_engine()
    if engine.available():
        tasks = search_index.ensure_index(search_index.index_uid(), {})
        tasks += search_index.clear()
        search_index.wait(tasks)
    sync.reset_pending_flag()
    yield


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def article_text(title: str, body: str = "Some text.", **meta: str) -> str:
    lines = ["---", f"title: {title}"] + [f"{k}: {v}" for k, v in meta.items()] + ["---", ""]
    return "\n".join(lines) + textwrap.dedent(body).strip() + "\n"


@pytest.fixture
def tiny_kb(tmp_path: Path) -> Path:
    """Four articles in two categories, with links, a draft and an internal one."""
    root = tmp_path / "kb"
    write(root, "account/reset-password.md", article_text(
        "Reset your password",
        """
        Forgot it? Start here.

        ## Request a reset link

        Tap **Forgot password** and follow the email. See [two-step](two-step).

        ## Choose a new password

        Use a long passphrase.
        """,
        tags="[password, sign-in]", summary="Get a reset link by email.",
    ))
    write(root, "account/two-step.md", article_text(
        "Two-step verification", "## Turn it on\n\nUse an authenticator app for codes.",
        tags="[security]",
    ))
    write(root, "billing/refunds.md", article_text(
        "Refund policy", "## Who qualifies\n\nRefunds within 30 days of the thermostat order.",
    ))
    write(root, "billing/secret-runbook.md", article_text(
        "Refund runbook for agents", "Internal steps for refunds approval.", audience="internal",
    ))
    write(root, "billing/upcoming-plan.md", article_text(
        "Upcoming platinum plan", "Draft text about the platinum plan.", status="draft",
    ))
    write(root, "_synonyms.yml", "refund: [money back, reimbursement]\n")
    write(root, "README.md", "# not an article\n")
    write(root, "macros/reply.md", "no front matter here\n")
    return root


@pytest.fixture
def synced(tiny_kb: Path) -> Callable[..., Any]:
    def run(**kwargs: Any) -> sync.SyncReport:
        return sync.sync_content(tiny_kb, wait=True, **kwargs)

    return run


@pytest.fixture
def engine_down(app):
    """Point the app at a port where nothing listens, as if Meilisearch had died."""
    real = get_engine()
    app.extensions["portal.search_engine"] = SearchEngine(
        "http://127.0.0.1:9", "", index_prefix=real.index_prefix, timeout=0.5)
    yield real
    app.extensions["portal.search_engine"] = real


@pytest.fixture
def demo_kb(app, content_dir: Path) -> Path:
    """The demo KB synced (database and Meilisearch), from a writable copy."""
    app.config["CONTENT_DIR"] = str(content_dir)
    report = sync.sync_content(content_dir, wait=True)
    assert report.added and not report.errors, [str(p) for p in report.errors]
    return content_dir
