"""The managed Meilisearch child: started, shared, restarted, and absent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from portal import create_app
from portal.kb.engine import SearchEngine
from portal.kb.meili_binary import NPM_INTEGRITY, integrity_of, locate_binary
from portal.kb.meili_process import ManagedMeilisearch, is_healthy

REPO = Path(__file__).resolve().parent.parent


def _binary() -> str:
    found = locate_binary(os.environ.get("MEILI_BIN", ""), REPO / "instance")
    assert found is not None, "make test fetches the binary first"
    return str(found)


def test_managed_child_starts_restarts_when_killed_and_stops(tmp_path):
    managed = ManagedMeilisearch(tmp_path, meili_bin=_binary())
    endpoint = managed.ensure_running()
    try:
        assert endpoint.url.startswith("http://127.0.0.1:")
        assert (tmp_path / "meili" / "master_key").stat().st_mode & 0o077 == 0
        engine = SearchEngine(endpoint.url, endpoint.master_key, index_prefix="rt")
        assert engine.available()

        # A second portal process on the machine reuses the running child.
        assert ManagedMeilisearch(tmp_path, meili_bin=_binary()).ensure_running() == endpoint

        pid = managed._process.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if managed.restarts and is_healthy(endpoint.url):
                break
            time.sleep(0.2)
        assert managed.restarts == 1 and is_healthy(endpoint.url)
    finally:
        managed.stop()
    assert not is_healthy(endpoint.url)


def test_a_generated_key_that_starts_with_a_dash_still_starts_the_child(tmp_path):
    # token_urlsafe gives such a key about once in 64 new instances; it read as an option.
    (tmp_path / "meili").mkdir()
    (tmp_path / "meili" / "master_key").write_text("-_" + "k" * 40)
    managed = ManagedMeilisearch(tmp_path, meili_bin=_binary())
    try:
        endpoint = managed.ensure_running()
        assert SearchEngine(endpoint.url, endpoint.master_key, index_prefix="rt").available()
    finally:
        managed.stop()


def test_missing_binary_gives_one_clear_message_and_the_portal_still_serves(tmp_path):
    app = create_app({
        "INSTANCE_DIR": str(tmp_path),
        "MEILI_URL": "",
        "MEILI_BIN": str(tmp_path / "no-such-meilisearch"),
        "SECRET_KEY": "s" * 40,
    })
    with app.app_context():
        from portal.extensions import db

        db.create_all()
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json["status"] == "degraded"
    assert "Meilisearch binary not found" in health.json["search"]["error"]
    assert client.get("/login").status_code == 200


def test_integrity_check_rejects_a_tampered_package():
    assert integrity_of(b"not the package") != NPM_INTEGRITY
    assert NPM_INTEGRITY.startswith("sha512-")


def test_stopping_the_dev_server_with_sigterm_stops_its_search_child(tmp_path):
    env = {**os.environ, "INSTANCE_DIR": str(tmp_path), "MEILI_URL": "", "MEILI_BIN": _binary(),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "SECRET_KEY": "s" * 40,
           "CONTENT_DIR": str(tmp_path / "content")}
    portal = str(Path(sys.executable).parent / "portal")
    subprocess.run([portal, "db", "upgrade"], env=env, check=True, capture_output=True,
                   timeout=120)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([portal, "run", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        state = tmp_path / "meili" / "process.json"
        while time.monotonic() < deadline and not state.exists():
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            time.sleep(0.2)
        child = json.loads(state.read_text())
        child_url = f"http://127.0.0.1:{child['port']}"
        while time.monotonic() < deadline and not is_healthy(child_url):
            time.sleep(0.2)
        assert is_healthy(child_url)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and is_healthy(child_url):
            time.sleep(0.2)
        assert not is_healthy(child_url), "Meilisearch outlived the portal that started it"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
