"""Chat fixtures: the demo KB's chunks indexed once per session, a fake LLM server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from portal import create_app
from portal.kb import chunks
from portal.kb.documents import load_content

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def indexed_kb(base_overrides: dict[str, Any], _schema: None) -> list[str]:
    """The demo KB's chunks in the session's Meilisearch (vectors are cached by text)."""
    app = create_app(base_overrides)
    with app.app_context():
        articles = load_content(REPO / "content").articles
        chunks.index_article_chunks(articles)
    return [a.slug for a in articles]


class FakeLLM:
    """A tiny OpenAI-compatible /v1/chat/completions server; `mode` picks its behaviour."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.answer = "Open Settings > Account and tap Reset password [1]."
        self.condensed = "What do I do if pairing the Hearthly Hub fails?"
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def handle(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        if self.mode == "timeout":
            time.sleep(3)
        if self.mode == "500":
            handler.send_response(500)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            handler.wfile.write(b'{"error": {"message": "boom"}}')
            return
        if self.mode == "malformed":
            handler.send_response(200)
            handler.send_header("Content-Type", "text/event-stream")
            handler.end_headers()
            handler.wfile.write(b"data: {not json\n\n")
            return
        text = {"empty": "", "leak": body["messages"][0]["content"]}.get(self.mode, self.answer)
        if "standalone question" in body["messages"][0]["content"] and self.mode == "ok":
            # The condense-question call: the follow-up rewritten on its own.
            text = self.condensed
        if not body.get("stream"):
            payload = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": text}}]}
            data = json.dumps(payload).encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        words = text.split(" ")
        cut = len(words) // 2 if self.mode == "cut" else len(words)
        for index, word in enumerate(words[:cut]):
            piece = word if index == 0 else " " + word
            self._event(handler, {"content": piece}, None)
        if self.mode != "cut":
            self._event(handler, {}, "stop")
            handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()

    @staticmethod
    def _event(handler: BaseHTTPRequestHandler, delta: dict[str, Any], finish: str | None) -> None:
        chunk = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeLLM]:
    server = FakeLLM()
    yield server
    server.close()
