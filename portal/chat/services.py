"""The chatbot as other packages see it."""

from __future__ import annotations

from typing import Any

from flask import current_app


def llm_health() -> dict[str, Any]:
    if current_app.config.get("OPENAI_API_KEY"):
        return {
            "mode": "openai",
            "model": current_app.config.get("CHAT_MODEL"),
            "base_url": current_app.config.get("OPENAI_BASE_URL") or "default",
        }
    return {"mode": "local", "ok": True}
