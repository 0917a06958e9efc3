"""Who the help center belongs to: `content/_site.yml` (and `_words.yml`) read and checked.

The business's name, look, categories and words live in the content folder, never in code.
Every process reads the files again when they change on disk (checked once per request, or
per call outside one), so an editor's change or a sync is live without a restart; a file with
mistakes keeps the last good site in use and tells staff why, with the problems the sync
report lists as well.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from flask import current_app, has_request_context, request

from portal import words

SITE_FILE = "_site.yml"
WORDS_FILE = "_words.yml"
IMAGE_TYPES = {".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
               ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
MAX_IMAGE_BYTES = 512 * 1024
MAX_CATEGORY_NAME = 60
MAX_DESCRIPTION = 200
CATEGORY_SLUG = re.compile(r"\A[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_COLOUR = re.compile(r"\A#[0-9a-fA-F]{6}\Z")
_LANGUAGE = re.compile(r"\A[a-z]{2,3}(?:-[A-Z]{2})?\Z")
_EMAIL = re.compile(r"\A[^\s@<>()\[\],;:\"\\]+@[^\s@<>()\[\],;:\"\\]+\.[^\s@<>()\[\],;:\"\\]+\Z")
# The page background and text colours the stylesheet puts brand colours against.
WHITE, PAGE = "#ffffff", "#f6f7fa"
AA_TEXT = 4.5
KNOWN_KEYS = {"business", "product", "support", "logo", "favicon", "colours", "footer", "bot",
              "languages", "categories"}


class SiteError(ValueError):
    """The site file has mistakes; `problems` says each one and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Category:
    slug: str
    name: str
    description: str = ""
    icon: str = ""


@dataclass(frozen=True)
class FooterLink:
    label: str
    url: str


@dataclass(frozen=True)
class Colours:
    brand: str = "#1f5f8b"
    brand_dark: str = "#17476a"
    accent: str = "#1f5fbf"
    tint: str = "#e9eff3"


@dataclass(frozen=True)
class Site:
    business: str = "Help Center"
    product: str = "our products and services"
    support_name: str = "Support"
    support_email: str = ""
    logo: str = ""
    favicon: str = ""
    colours: Colours = Colours()
    footer: tuple[FooterLink, ...] = ()
    bot_name: str = "Assistant"
    bot_greeting: str = "Hi! Ask me a question about our products or your account."
    languages: tuple[str, ...] = ("en",)
    categories: tuple[Category, ...] = ()
    texts: Mapping[str, str] = field(default_factory=dict)

    @property
    def sender(self) -> str:
        """The From of every mail: MAIL_FROM when set, else the support address."""
        if not self.support_email:
            return ""
        return f"{self.support_name} <{self.support_email}>"

    @property
    def language(self) -> str:
        return self.languages[0]

    def category(self, slug: str) -> Category | None:
        return next((c for c in self.categories if c.slug == slug), None)

    def category_name(self, slug: str) -> str:
        found = self.category(slug)
        return found.name if found else slug.replace("-", " ").capitalize()

    def category_order(self, slug: str) -> int:
        """Listed categories in the file's order, then the others."""
        for position, category in enumerate(self.categories):
            if category.slug == slug:
                return position
        return len(self.categories)

    def values(self) -> dict[str, str]:
        return {"business": self.business, "product": self.product,
                "support_name": self.support_name, "support_email": self.support_email,
                "bot_name": self.bot_name}

    def text(self, key: str, **values: Any) -> str:
        """The template `key` (see portal.words) filled in with the site and `values`."""
        template = self.texts.get(key) or words.TEMPLATES[key][0]
        return words.render(template, self.values(), values)


# --- reading and checking -----------------------------------------------------------------


def _contrast(first: str, second: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _mix(colour: str, other: str, share: float) -> str:
    """`share` of `other` mixed into `colour`."""
    parts = [round(int(colour[i:i + 2], 16) * (1 - share) + int(other[i:i + 2], 16) * share)
             for i in (1, 3, 5)]
    return "#" + "".join(f"{p:02x}" for p in parts)


def _text(data: Mapping[str, Any], key: str, problems: list[str], *, where: str = "",
          required: bool = False, limit: int = 120) -> str:
    value = data.get(key)
    name = f"{where}{key}"
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.append(f"{name}: required")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        problems.append(f"{name}: write it as text")
        return ""
    text = str(value).strip()
    if "\n" in text or len(text) > limit:
        problems.append(f"{name}: one line of at most {limit} characters")
        return ""
    return text


def _colours(data: Any, problems: list[str]) -> Colours:
    if data is None:
        return Colours()
    if not isinstance(data, Mapping):
        problems.append("colours: give `brand` (and optionally `brand_dark`, `accent`)")
        return Colours()
    chosen: dict[str, str] = {}
    for key in ("brand", "brand_dark", "accent"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not _COLOUR.fullmatch(value.strip()):
            problems.append(f"colours.{key}: write a colour as #rrggbb, e.g. \"#1f5f8b\"")
            continue
        chosen[key] = value.strip().lower()
    unknown = sorted(set(data) - {"brand", "brand_dark", "accent"})
    if unknown:
        problems.append(f"colours.{unknown[0]}: not a colour the portal uses "
                        "(brand, brand_dark, accent)")
    brand = chosen.get("brand", Colours.brand)
    brand_dark = chosen.get("brand_dark") or _mix(brand, "#000000", 0.22)
    accent = chosen.get("accent", Colours.accent)
    tint = _mix(brand, WHITE, 0.88)
    checks = [
        ("brand", brand, WHITE, "white button text on it"),
        ("brand_dark", brand_dark, WHITE, "white button text on it"),
        ("brand_dark", brand_dark, tint, "the current menu item's text on its light tint"),
        ("accent", accent, WHITE, "links in it on white"),
        ("accent", accent, PAGE, "links in it on the page background"),
    ]
    for key, colour, against, what in checks:
        ratio = _contrast(colour, against)
        if ratio < AA_TEXT:
            problems.append(
                f"colours.{key} {colour}: {what} has contrast {ratio:.1f}:1; WCAG AA needs "
                f"{AA_TEXT}:1, so choose a darker colour")
    return Colours(brand, brand_dark, accent, tint)


def _image(root: Path, value: Any, key: str, problems: list[str]) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        problems.append(f"{key}: give a file in the content folder, e.g. _assets/{key}.svg")
        return ""
    relative = value.strip().removeprefix("./")
    path = (root / relative).resolve()
    if not path.is_relative_to(root.resolve()):
        problems.append(f"{key}: {value} is outside the content folder")
    elif path.suffix.lower() not in IMAGE_TYPES:
        problems.append(f"{key}: {value} is not an image the portal serves "
                        f"({', '.join(sorted(IMAGE_TYPES))})")
    elif not path.is_file():
        problems.append(f"{key}: {value} does not exist in the content folder")
    elif path.stat().st_size > MAX_IMAGE_BYTES:
        problems.append(f"{key}: {value} is larger than {MAX_IMAGE_BYTES // 1024} KB")
    else:
        return relative
    return ""


def _footer(data: Any, problems: list[str]) -> tuple[FooterLink, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        problems.append("footer: a list of links, each `- label: ...` and `url: ...`")
        return ()
    links = []
    for number, item in enumerate(data, 1):
        where = f"footer[{number}]."
        if not isinstance(item, Mapping):
            problems.append(f"footer[{number}]: give `label` and `url`")
            continue
        label = _text(item, "label", problems, where=where, required=True, limit=40)
        url = _text(item, "url", problems, where=where, required=True, limit=300)
        if url and not (url.startswith(("https://", "http://", "mailto:"))
                        or (url.startswith("/") and not url.startswith("//"))):
            problems.append(f"{where}url: {url} must start with https://, http://, mailto: or /")
            continue
        if label and url:
            links.append(FooterLink(label, url))
    return tuple(links)


def _categories(data: Any, problems: list[str]) -> tuple[Category, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        problems.append("categories: a list, each `- slug: ...` with `name`, `description`")
        return ()
    found: list[Category] = []
    for number, item in enumerate(data, 1):
        where = f"categories[{number}]."
        if not isinstance(item, Mapping):
            problems.append(f"categories[{number}]: give `slug` and `name`")
            continue
        slug = _text(item, "slug", problems, where=where, required=True, limit=60)
        if slug and not CATEGORY_SLUG.fullmatch(slug):
            problems.append(f"{where}slug: {slug!r} must be the folder's name: lowercase "
                            "letters, digits and hyphens")
            continue
        if any(c.slug == slug for c in found):
            problems.append(f"{where}slug: {slug} is listed twice")
            continue
        name = _text(item, "name", problems, where=where, required=True, limit=MAX_CATEGORY_NAME)
        description = _text(item, "description", problems, where=where, limit=MAX_DESCRIPTION)
        icon = _text(item, "icon", problems, where=where, limit=4)
        unknown = sorted(set(item) - {"slug", "name", "description", "icon"})
        if unknown:
            problems.append(f"{where}{unknown[0]}: not a category setting "
                            "(slug, name, description, icon)")
        if slug and name:
            found.append(Category(slug, name, description, icon))
    return tuple(found)


def parse_site(root: Path, site_text: str | None, words_text: str | None = None) -> Site:
    """The site the files describe; SiteError lists every mistake at once."""
    problems: list[str] = []
    data = _yaml(site_text, SITE_FILE, problems)
    if not isinstance(data, Mapping):
        if data is not None:
            problems.append(f"{SITE_FILE}: settings such as `business: ...`, one per line")
        data = {}
    for key in sorted(set(data) - KNOWN_KEYS):
        problems.append(f"{key}: not a site setting (known: {', '.join(sorted(KNOWN_KEYS))})")
    defaults = Site()
    business = _text(data, "business", problems, required=site_text is not None, limit=80)
    support = data.get("support") or {}
    if not isinstance(support, Mapping):
        problems.append("support: give `name` and `email`")
        support = {}
    support_name = _text(support, "name", problems, where="support.", limit=80)
    support_email = _text(support, "email", problems, where="support.", limit=200)
    if support_email and not _EMAIL.fullmatch(support_email):
        problems.append(f"support.email: {support_email!r} is not one plain address")
        support_email = ""
    bot = data.get("bot") or {}
    if not isinstance(bot, Mapping):
        problems.append("bot: give `name` and `greeting`")
        bot = {}
    languages = data.get("languages", ["en"])
    if isinstance(languages, str):
        languages = [languages]
    if not isinstance(languages, list) or not languages or not all(
            isinstance(code, str) and _LANGUAGE.fullmatch(code) for code in languages):
        problems.append("languages: a list of language codes such as [en] or [en, fr-CA]; "
                        "the first is the pages' language")
        languages = ["en"]
    texts, word_problems = words.check(_yaml(words_text, WORDS_FILE, problems))
    problems += [f"{WORDS_FILE}: {problem}" for problem in word_problems]
    site = Site(
        business=business or defaults.business,
        product=_text(data, "product", problems, limit=120) or defaults.product,
        support_name=support_name or (f"{business} Support" if business else
                                      defaults.support_name),
        support_email=support_email,
        logo=_image(root, data.get("logo"), "logo", problems),
        favicon=_image(root, data.get("favicon"), "favicon", problems),
        colours=_colours(data.get("colours"), problems),
        footer=_footer(data.get("footer"), problems),
        bot_name=_text(bot, "name", problems, where="bot.", limit=40) or defaults.bot_name,
        bot_greeting=_text(bot, "greeting", problems, where="bot.", limit=300)
        or defaults.bot_greeting,
        languages=tuple(languages),
        categories=_categories(data.get("categories"), problems),
        texts=texts,
    )
    if problems:
        raise SiteError(problems)
    return site


def _yaml(text: str | None, name: str, problems: list[str]) -> Any:
    if text is None:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problems.append(f"{name}{where}: not valid YAML ({getattr(exc, 'problem', exc)})")
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise SiteError([f"{path.name}: cannot be read ({exc})"]) from exc


def load_site(root: Path) -> Site:
    """The site of the content folder `root`; SiteError when its files have mistakes."""
    return parse_site(root, _read(root / SITE_FILE), _read(root / WORDS_FILE))


# --- the running site ---------------------------------------------------------------------


@dataclass
class _Loaded:
    signature: tuple[Any, ...] = ()
    site: Site = field(default_factory=Site)
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _signature(root: Path) -> tuple[Any, ...]:
    parts: list[Any] = [str(root)]
    for name in (SITE_FILE, WORDS_FILE):
        try:
            stat = (root / name).stat()
            parts.append((stat.st_mtime_ns, stat.st_size))
        except OSError:
            parts.append(None)
    return tuple(parts)


def content_root() -> Path:
    return Path(current_app.config["CONTENT_DIR"]).resolve()


def _loaded() -> _Loaded:
    loaded: _Loaded = current_app.extensions.setdefault("portal.site", _Loaded())
    root = content_root()
    signature = _signature(root)
    if signature != loaded.signature:
        with loaded.lock:
            if signature != loaded.signature:
                try:
                    loaded.site, loaded.problems = load_site(root), []
                except SiteError as error:
                    # The last good site stays: a typo must not unbrand the help center.
                    loaded.problems = error.problems
                loaded.signature = signature
    return loaded


# Where a request keeps the site it read. Not flask.g: g belongs to the app context, and an
# app context pushed around requests (a test's, a worker's) would keep one site for all.
_REQUEST_KEY = "portal.site"


def _in_use() -> tuple[Site, tuple[str, ...]]:
    """The site and its problems, read once per request: a page lists many categories and
    names, and it shows one version of the site throughout."""
    if not has_request_context():
        loaded = _loaded()
        return loaded.site, tuple(loaded.problems)
    memo: tuple[Site, tuple[str, ...]] | None = request.environ.get(_REQUEST_KEY)
    if memo is None:
        loaded = _loaded()
        memo = request.environ[_REQUEST_KEY] = (loaded.site, tuple(loaded.problems))
    return memo


def current() -> Site:
    """The site in use: the content folder's, or the last good one while it has mistakes."""
    return _in_use()[0]


def problems() -> list[str]:
    """Why the site files are not in use (empty when they are)."""
    return list(_in_use()[1])


def sender() -> str:
    return current_app.config.get("MAIL_FROM") or current().sender
