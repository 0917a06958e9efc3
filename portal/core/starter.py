"""`portal init DIR --name NAME`: a new help center's content folder, ready to sync.

Every file is commented, so whoever opens it learns the format by changing an example.
What is written is checked the way sync and the portal read it before the command ends.
"""

from __future__ import annotations

import re
from pathlib import Path

from portal import words
from portal.kb.documents import load_content
from portal.site import SiteError, load_site

MAX_NAME = 80


class StarterError(ValueError):
    """The folder cannot be made: the message says why."""


def short_name(name: str) -> str:
    """"Bramble & Co." -> "bramble-co": for the example address and stop word."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "example"


def site_file(name: str) -> str:
    short = short_name(name)
    return f"""# Who this help center belongs to. The portal reads this file at sync and whenever it
# changes: an edit is live without a restart, and a mistake keeps the last good version in
# use while staff see a banner saying what is wrong. The portal's content/README.md lists
# every setting.

business: {words.yaml_quote(name)}
# What the bot says it helps with, and what its instructions say it answers about.
product: {words.yaml_quote(f"{name}'s products, your account and orders")}

support:
  name: {words.yaml_quote(f"{name} Support")}
  # Mail to customers comes from this address (MAIL_FROM in the environment overrides it).
  email: support@{short}.example

# Image files in this folder (svg, png, ico, jpg, webp; at most 512 KB), e.g.:
# logo: _assets/logo.svg
# favicon: _assets/favicon.svg

# #rrggbb colours, checked for WCAG AA contrast: white button text on brand and
# brand_dark (a darker brand when left out), links in accent on white.
colours:
  brand: "#1f5f8b"
  accent: "#1f5fbf"

# Links at the foot of every page: https://, mailto: or a path on this site.
footer:
  - label: Help Center
    url: /kb
  - label: Contact us
    url: mailto:support@{short}.example

bot:
  name: {words.yaml_quote(f"{name} Assistant")}
  greeting: {words.yaml_quote(f"Hi! Ask me a question about {name}, your account or your orders.")}

# The first is the language of the pages.
languages: [en]

# One entry per folder of articles, in the order the help center lists them. The editor's
# Content > Categories page changes names, order and descriptions here too.
categories:
  - slug: getting-started
    name: Getting started
    description: Your first steps, and how to reach us.
    icon: "🚀"
  - slug: account
    name: Account and sign-in
    description: Signing in, passwords and your details.
    icon: "👤"
"""


ARTICLES = {
    "getting-started/welcome.md": """---
# Front matter: title is required; the rest is optional (see README.md).
title: {welcome_title}
tags: [start, welcome, introduction]
summary: What this help center covers and how to find an answer fast.
status: published
audience: public
---

This help center answers the questions customers ask {name} most. Search from the top of
any page, browse by topic, or ask the assistant on the Chat page.

## Find an answer

1. Type a few words into the search box, for example **reset password**.
2. Open the article that matches and follow its steps.
3. Tell us at the bottom of the article whether it helped.

## Still stuck?

See [Contact support](contact-support): the assistant prepares a ticket for you.
""",
    "getting-started/contact-support.md": """---
title: Contact support
tags: [contact, ticket, help, email]
summary: {contact_summary}
---

When an article does not answer your question, a person at {name} Support will.

## Open a ticket

1. Go to **New ticket** (or press **Talk to a person** in the chat).
2. Describe what happened and what you expected.
3. Press **Send**. We mail you the ticket number and reply by mail and on the ticket page.

You can also write to us by e-mail: every message becomes a ticket.
""",
    "account/reset-password.md": """---
title: Reset your password
tags: [password, sign in, forgot, locked out]
summary: Choose a new password when you cannot sign in.
---

If you forgot your password, you can choose a new one in a minute.

## Reset it

1. On the sign-in page, press **Forgot your password?**
2. Enter the address you signed up with.
3. Open the mail we send and follow the link within an hour.
4. Choose a new password of at least 10 characters.

No mail after a few minutes? Check your spam folder, then
[contact support](contact-support).
""",
}

SYNONYMS = """# Search synonyms: each term finds the articles that use any word of its list.
# Add the words your customers type for the words your articles use.
password: [passcode, passphrase, credentials]
sign in: [log in, login, signin, sign-in]
ticket: [case, request, support request]
"""

STOPWORDS = """# Words the search box ignores on top of its English list (how, do, a, my...):
# words in nearly every article, such as the business's name, say nothing about which
# article is meant.
- {short}
"""

ROUTING = """# Routing rules: where a new ticket goes (portal form, chat hand-off or email).
#
# Rules run from top to bottom. A rule fires when all of its conditions ("when") hold; a
# list means "any of these". Its actions ("then") set the team, tier, priority or assignee
# and add tags. `stop: true` ends routing after that rule. The full language:
# docs/tickets.md, "Routing".
#
# Conditions: category, keywords, source (form, chat, email), requester, priority.
# Actions: team (its short name, once created under Teams), tier (L1, L2, L3), priority,
#   assign (an agent's email), tag.

rules:
  - name: Account questions
    when:
      category: account
    then:
      tag: account

  - name: Urgent words
    when:
      keywords: [urgent, cannot sign in, locked out]
    then:
      priority: high
"""

MACROS = {
    "macros/ask-for-details.md": """---
# A canned reply agents insert from the ticket page. {{{{customer_name}}}},
# {{{{ticket_number}}}} and {{{{agent_name}}}} are filled in.
title: Ask for more details
---
Hi {{{{customer_name}}}},

Thanks for getting in touch about ticket #{{{{ticket_number}}}}. So we can help quickly,
could you tell us what you expected to happen, what happened instead, and roughly when it
started?

Best regards,
{{{{agent_name}}}}
""",
    "macros/point-to-article.md": """---
title: Point to an article
---
Hi {{{{customer_name}}}},

This article walks through it step by step: (paste the article's link here).

If it does not solve it, reply to this mail and we will take it from there.

Best regards,
{{{{agent_name}}}}
""",
}

README = """# {name} help center content

- `_site.yml`: the business's name, colours, logo, footer, bot and categories.
- `_words.yml`: what mails and the bot say.
- `<category>/<slug>.md`: one article each, Markdown with front matter.
- `_synonyms.yml`, `_stopwords.yml`: search vocabulary.
- `routing.yml`: where new tickets go. `macros/`: agents' canned replies.

Load it with `CONTENT_DIR={folder} portal kb sync` (or `CONTENT_DIR={folder} make run`).
The portal's content/README.md describes every file in full.
"""


def write_starter(folder: Path, name: str) -> list[Path]:
    """Write the starter content into `folder` (new or empty); the files written."""
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise StarterError(f"Give the business a name of 1 to {MAX_NAME} characters.")
    if any(mark in name for mark in '"\\'):
        raise StarterError("Leave quotes and backslashes out of the name.")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise StarterError(f"{folder} already exists and is not empty: choose a new folder.")
    short = short_name(name)
    files = {
        "_site.yml": site_file(name),
        "_words.yml": words.default_file(),
        "_synonyms.yml": SYNONYMS,
        "_stopwords.yml": STOPWORDS.format(short=short.split("-")[0]),
        "routing.yml": ROUTING,
        "README.md": README.format(name=name, folder=folder),
        **{path: text.format(
            name=name, welcome_title=words.yaml_quote(f"Welcome to {name}"),
            contact_summary=words.yaml_quote(
                f"How to reach a person at {name} Support, and how fast we reply."))
           for path, text in ARTICLES.items()},
        **{path: text.format() for path, text in MACROS.items()},
    }
    written = []
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    try:
        load_site(folder.resolve())
    except SiteError as error:  # a name the YAML cannot hold, caught before anyone syncs
        raise StarterError("; ".join(error.problems)) from error
    articles = load_content(folder.resolve())
    if articles.errors:
        raise StarterError("; ".join(str(problem) for problem in articles.errors))
    return written
