"""The words mails and the bot use: templates a support team edits in `content/_words.yml`.

Each template names the values it may use as `${name}`; a template using any other name is
refused when the file is read, so a typo shows up in the sync report and the staff banner
instead of in a customer's inbox. The defaults below are the texts used when the file (or
one of its entries) is absent; they name no business: the site file fills that in.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Template
from typing import Any

# Every template may use these; they come from the site file.
SITE_VALUES = ("business", "product", "support_name", "support_email", "bot_name")

# key -> (default text, the values the caller passes on top of SITE_VALUES)
TEMPLATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "mail.acknowledgement.subject": ("We received your request: ${subject}", ("subject",)),
    "mail.acknowledgement.body": (
        "Hi ${name},\n\nThanks for contacting ${support_name}. Your ticket number is "
        "#${number}; we aim to reply ${reply_target}.\n\nFollow your ticket and reply here:\n"
        "${url}\n\nYour message:\n${message}\n",
        ("name", "number", "reply_target", "url", "message", "subject"),
    ),
    "mail.reply.subject": ("New reply: ${subject}", ("subject",)),
    "mail.reply.body": (
        "Hi ${name},\n\n${agent} replied to your ticket:\n\n${reply}\n\n"
        "Reply or follow the ticket here:\n${url}\n",
        ("name", "agent", "reply", "url", "number", "subject"),
    ),
    "mail.solved.subject": ("Solved: ${subject}", ("subject",)),
    "mail.solved.body": (
        "Hi ${name},\n\nWe have marked your ticket as solved. If it is not, reply within "
        "${days} days and it opens again.\n\n${csat}",
        ("name", "days", "csat", "url", "number", "subject"),
    ),
    "mail.csat.body": (
        "How did we do? Rate us here (the link opens a form; nothing is recorded until you "
        "press the button):\n${rate_url}\n",
        ("rate_url",),
    ),
    "mail.assigned.subject": ("Assigned to you: ${subject}", ("subject",)),
    "mail.assigned.body": (
        "Hi ${name},\n\n${by} assigned ticket #${number} to you (${tier}).\n"
        "Priority: ${priority}; ${due}.\n\n${url}\n",
        ("name", "by", "number", "tier", "priority", "due", "url", "subject"),
    ),
    "mail.breach.subject": ("SLA breached: ${subject}", ("subject",)),
    "mail.breach.body": (
        "Hi ${name},\n\nTicket #${number} missed its ${target} target and is now ${priority} "
        "priority.\n\n${url}\n",
        ("name", "number", "target", "priority", "url", "subject"),
    ),
    "bot.handoff.low_confidence": (
        "I couldn't find an answer I'm sure about in our help center. A member of our support "
        "team can help: I've prepared a ticket for you to check.", ()),
    "bot.handoff.asked_for_person": (
        "Of course. I've prepared a ticket with our conversation so a member of our support "
        "team can take it from here.", ()),
    "bot.handoff.not_helpful": (
        "Sorry that didn't help. You can rephrase your question, or send it to our support "
        "team with the ticket I've prepared.", ()),
    "bot.handoff.sensitive_topic": (
        "This is something a member of our support team handles personally. I've prepared a "
        "ticket with your question.", ()),
    "bot.handoff.llm_failure": (
        "I couldn't put an answer together just now. I've prepared a ticket so a member of "
        "our support team can answer you.", ()),
    "bot.handoff.user_action": (
        "I've prepared a ticket with our conversation for our support team.", ()),
    "bot.small_talk.greeting": ("Hello! What can I help you with today?", ()),
    "bot.small_talk.thanks": ("You're welcome. Is there anything else I can help with?", ()),
    "bot.small_talk.worked": (
        "Great, I'm glad that sorted it. Is there anything else I can help with?", ()),
    "bot.small_talk.goodbye": ("Thanks for getting in touch. Goodbye!", ()),
    "bot.off_topic": ("Sorry, I can only help with questions about ${subjects}.", ("subjects",)),
    "bot.suggest": (
        "I'm not sure these answer your question, but they look closest. If they don't help, "
        "I've prepared a ticket for our support team.", ()),
}


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"mail": {"reply": {"body": ...}}} as {"mail.reply.body": ...}."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def check(data: Any) -> tuple[dict[str, str], list[str]]:
    """The templates the file sets, and its problems (unknown keys, unknown values used)."""
    if data is None:
        return {}, []
    if not isinstance(data, Mapping):
        return {}, ["the file must hold `mail:` and `bot:` sections, not a list or text"]
    found: dict[str, str] = {}
    problems: list[str] = []
    for key, value in flatten(data).items():
        if key not in TEMPLATES:
            section = key.split(".")[0] + "."
            known = sorted(k for k in TEMPLATES if k.startswith(section)) or sorted(TEMPLATES)
            problems.append(f"{key}: not a template the portal uses (known: {', '.join(known)})")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{key}: write the text, or remove the line to use the default")
            continue
        template = Template(value)
        allowed = set(SITE_VALUES) | set(TEMPLATES[key][1])
        if not template.is_valid():
            problems.append(f"{key}: a `$` must start a value such as ${{name}}; write $$ "
                            "for a dollar sign")
            continue
        unknown = sorted(set(template.get_identifiers()) - allowed)
        if unknown:
            problems.append(f"{key}: ${{{unknown[0]}}} is not available here; use "
                            + ", ".join(f"${{{name}}}" for name in sorted(allowed)))
            continue
        found[key] = value
    return found, problems


def render(text: str, site_values: Mapping[str, str], values: Mapping[str, Any]) -> str:
    return Template(text).safe_substitute({**site_values, **{k: str(v) for k, v in values.items()}})


def default_file() -> str:
    """`_words.yml` holding every default, each with the values it may use: what
    `portal init` writes, so a support team sees everything it can change."""
    lines = [
        "# The words of mails and of the bot. Change the tone here; no code is involved.",
        "# ${name} is filled in when the text is used; each entry lists the names it may use",
        "# (besides " + ", ".join(f"${{{v}}}" for v in SITE_VALUES) + ", which come from",
        "# _site.yml). Write $$ for a dollar sign. Remove an entry to use the built-in text.",
    ]
    opened: list[str] = []
    for key, (text, values) in TEMPLATES.items():
        *sections, leaf = key.split(".")
        common = 0
        while common < min(len(opened), len(sections)) and opened[common] == sections[common]:
            common += 1
        for depth in range(common, len(sections)):
            if depth == 0:
                lines.append("")
            lines.append("  " * depth + f"{sections[depth]}:")
        opened = sections
        indent = "  " * len(sections)
        if values:
            lines.append(f"{indent}# uses " + ", ".join(f"${{{v}}}" for v in values))
        if "\n" in text:
            lines.append(f"{indent}{leaf}: |" + ("-" if not text.endswith("\n") else ""))
            lines += [f"{indent}  {line}" if line else "" for line in text.rstrip("\n").split("\n")]
        else:
            lines.append(f"{indent}{leaf}: {yaml_quote(text)}")
    return "\n".join(lines) + "\n"


def yaml_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
