"""Canned responses: Markdown files in content/macros/ with a title in front matter.

Placeholders are replaced with plain `str.replace`, never a template engine, so a
macro (or a customer's name) can never run code.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from flask import current_app

log = logging.getLogger(__name__)
PLACEHOLDERS = ("customer_name", "ticket_number", "ticket_subject", "agent_name", "article_links")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True)
class Macro:
    name: str
    title: str
    body: str

    def render(self, values: dict[str, str]) -> str:
        # One pass over the macro: a value that itself contains "{{ticket_number}}"
        # (a customer's chosen name, say) is inserted as it is, never expanded.
        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            return values.get(key, "") if key in PLACEHOLDERS else match.group(0)

        return _PLACEHOLDER.sub(fill, self.body)

    @property
    def needs_articles(self) -> bool:
        """It lists articles, so the agent picks them before it is inserted."""
        return any(m.group(1) == "article_links" for m in _PLACEHOLDER.finditer(self.body))


def macros_dir() -> Path:
    configured = current_app.config.get("TICKET_MACROS_DIR")
    if configured:
        return Path(configured)
    return Path(current_app.config["CONTENT_DIR"]) / "macros"


def load_macros() -> list[Macro]:
    folder = macros_dir()
    found: list[Macro] = []
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        macro = _parse(path)
        if macro is not None:
            found.append(macro)
    return sorted(found, key=lambda macro: macro.title.lower())


def get_macro(name: str) -> Macro | None:
    return next((macro for macro in load_macros() if macro.name == name), None)


def _parse(path: Path) -> Macro | None:
    text = path.read_text(encoding="utf-8")
    title, body = path.stem.replace("-", " ").capitalize(), text
    if text.startswith("---"):
        _, _, rest = text.partition("\n")
        header, separator, body = rest.partition("\n---")
        if not separator:
            log.warning("macro %s: front matter is not closed", path.name)
            return None
        try:
            meta = yaml.safe_load(header) or {}
        except yaml.YAMLError:
            log.warning("macro %s: front matter is not valid YAML", path.name)
            return None
        if isinstance(meta, dict) and meta.get("title"):
            title = str(meta["title"])
        body = body.lstrip("-").lstrip("\n")
    return Macro(name=path.stem, title=title, body=body.strip() + "\n")
