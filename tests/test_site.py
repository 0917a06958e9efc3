"""The site file: checked with clear messages, live on change, the last good one kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from portal import site, words
from portal.accounts.models import Role

REPO = Path(__file__).resolve().parent.parent
GOOD = """business: Bramble
support: {name: Bramble Help, email: help@bramble.example}
colours: {brand: "#2d5a27"}
footer: [{label: Privacy, url: "https://bramble.example/privacy"}]
bot: {name: Bramble Bot, greeting: Hello from Bramble.}
languages: [en, fr]
categories:
  - {slug: plants, name: Plants and care, description: Watering and light., icon: "🌱"}
  - {slug: orders, name: Orders}
"""


def problems_of(text: str, words_text: str | None = None, root: Path = REPO) -> list[str]:
    with pytest.raises(site.SiteError) as caught:
        site.parse_site(root, text, words_text)
    return caught.value.problems


def test_the_demo_content_folder_holds_a_valid_site():
    demo = site.load_site(REPO / "content")
    assert demo.business and demo.sender.endswith(">") and demo.logo and demo.favicon
    assert len(demo.categories) >= 7
    assert set(demo.texts) == set(words.TEMPLATES)


def test_a_good_file_gives_every_setting():
    parsed = site.parse_site(REPO, GOOD)
    assert parsed.business == "Bramble" and parsed.support_name == "Bramble Help"
    assert parsed.sender == "Bramble Help <help@bramble.example>"
    assert parsed.colours.brand == "#2d5a27" and parsed.colours.brand_dark != "#2d5a27"
    assert parsed.footer == (site.FooterLink("Privacy", "https://bramble.example/privacy"),)
    assert parsed.bot_name == "Bramble Bot" and parsed.language == "en"
    assert [c.slug for c in parsed.categories] == ["plants", "orders"]
    assert parsed.category_name("plants") == "Plants and care"
    assert parsed.category_name("gift-cards") == "Gift cards"
    assert parsed.category_order("orders") == 1 and parsed.category_order("other") == 2


def test_no_file_is_a_plain_help_center_naming_no_business():
    plain = site.parse_site(REPO, None)
    assert plain == site.Site()
    assert "hearthly" not in repr(plain).lower()


@pytest.mark.parametrize(("text", "expected"), [
    ("colours: {brand: '#ffcc00'}\nbusiness: X",
     "colours.brand #ffcc00: white button text on it has contrast 1.5:1; WCAG AA needs 4.5:1"),
    ("colours: {accent: '#77aaff'}\nbusiness: X", "colours.accent #77aaff: links in it on white"),
    ("colours: {brand: red}\nbusiness: X", "colours.brand: write a colour as #rrggbb"),
    ("business: X\nfooter: [{label: Evil, url: 'javascript:alert(1)'}]",
     "footer[1].url: javascript:alert(1) must start with https://"),
    ("business: X\ncategories: [{slug: Plants, name: P}]", "categories[1].slug: 'Plants'"),
    ("business: X\ncategories: [{slug: a, name: A}, {slug: a, name: B}]",
     "categories[2].slug: a is listed twice"),
    ("business: X\ncategories: [{slug: a}]", "categories[1].name: required"),
    ("business: X\nlogo: ../secret.svg", "logo: ../secret.svg is outside the content folder"),
    ("business: X\nlogo: _assets/none.svg", "logo: _assets/none.svg does not exist"),
    ("business: X\nfavicon: README.md", "favicon: README.md is not an image"),
    ("business: X\nsupport: {email: 'a@b.example\\nBcc: x@y.example'}", "support.email"),
    ("business: X\nlanguages: [English]", "languages: a list of language codes"),
    ("business: X\ncolour: {brand: '#000000'}", "colour: not a site setting"),
    ("support: {name: S}", "business: required"),
    ("business: [unclosed", "_site.yml line 1: not valid YAML"),
])
def test_mistakes_are_named_clearly(text: str, expected: str):
    assert any(expected in problem for problem in problems_of(text)), problems_of(text)


def test_every_mistake_is_listed_at_once():
    found = problems_of("business: X\ncolours: {brand: '#ffffff'}\nlanguages: [x1]\n")
    assert len(found) >= 3


def test_word_templates_refuse_values_they_cannot_have():
    found = problems_of("business: X", "mail:\n  reply:\n    body: Hi ${customer}\n")
    assert found == ["_words.yml: mail.reply.body: ${customer} is not available here; use "
                     + ", ".join(f"${{{n}}}" for n in sorted(
                         set(words.SITE_VALUES) | set(words.TEMPLATES["mail.reply.body"][1])))]
    assert "not a template" in problems_of("business: X", "mail:\n  welcome: Hi\n")[0]
    assert "$$ for a dollar sign" in problems_of("business: X", "bot:\n  suggest: Pay $ 5\n")[0]


def test_templates_fill_site_values_and_write_dollars_doubled():
    parsed = site.parse_site(REPO, GOOD, "bot:\n  suggest: ${bot_name} thinks these cost $$5\n")
    assert parsed.text("bot.suggest") == "Bramble Bot thinks these cost $5"
    assert parsed.text("mail.acknowledgement.body", name="Robin", number=1001, reply_target="soon",
                       url="u", message="m", subject="s").startswith(
        "Hi Robin,\n\nThanks for contacting Bramble Help. Your ticket number is #1001")


def test_the_words_file_init_writes_holds_every_default():
    found, problems = words.check(yaml.safe_load(words.default_file()))
    assert problems == [] and {k: v for k, v in found.items()} == {
        k: text for k, (text, _) in words.TEMPLATES.items()}


# --- in the running portal -----------------------------------------------------------


@pytest.fixture
def branded(app, tmp_path: Path) -> Path:
    root = tmp_path / "content"
    (root / "_assets").mkdir(parents=True)
    (root / "_assets" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / "_site.yml").write_text(GOOD + "logo: _assets/logo.svg\n")
    app.config["CONTENT_DIR"] = str(root)
    return root


def _touch_later(path: Path, text: str) -> None:
    """Write and move the modification time on, as a later save would."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


def test_pages_show_the_site_and_follow_an_edit_without_restart(app, client, branded: Path):
    page = client.get("/kb").get_data(as_text=True)
    assert "<title>Help Center · Bramble Help</title>" in page
    assert '<html lang="en">' in page and "Bramble" in page and "Hearthly" not in page
    assert '<a href="https://bramble.example/privacy">Privacy</a>' in page
    theme = client.get("/site/theme.css")
    assert theme.mimetype == "text/css" and "--brand: #2d5a27;" in theme.get_data(as_text=True)
    again = client.get("/site/theme.css", headers={"If-None-Match": theme.headers["ETag"]})
    assert again.status_code == 304
    logo = client.get("/site/logo")
    assert logo.status_code == 200 and logo.mimetype == "image/svg+xml"
    assert "default-src 'none'" in logo.headers["Content-Security-Policy"]
    assert client.get("/site/favicon").status_code == 302  # no favicon: the portal's own

    _touch_later(branded / "_site.yml", GOOD.replace("Bramble Help", "Bramble Care"))
    assert "Bramble Care" in client.get("/kb").get_data(as_text=True)


def test_a_bad_edit_keeps_the_last_good_site_and_tells_staff(app, client, branded: Path,
                                                            login_as):
    assert "Bramble Help" in client.get("/kb").get_data(as_text=True)
    _touch_later(branded / "_site.yml", GOOD.replace("#2d5a27", "#eeeeee"))
    page = client.get("/kb").get_data(as_text=True)
    assert "Bramble Help" in page and "has mistakes" not in page  # customers see no banner
    assert "--brand: #2d5a27;" in client.get("/site/theme.css").get_data(as_text=True)
    login_as(Role.EDITOR)
    page = client.get("/kb").get_data(as_text=True)
    assert "has mistakes, so the last good version is in use" in page
    assert "colours.brand #eeeeee: white button text on it has contrast" in page


def test_mail_comes_from_the_site_support_address_unless_mail_from_is_set(app, branded):
    assert site.sender() == "Bramble Help <help@bramble.example>"
    app.config["MAIL_FROM"] = "Ops <ops@bramble.example>"
    assert site.sender() == "Ops <ops@bramble.example>"


def test_sync_reports_site_mistakes_and_folders_the_site_file_does_not_list(app, branded):
    from portal.kb import search_index, sync

    (branded / "gift-cards").mkdir()
    (branded / "gift-cards" / "redeem.md").write_text("---\ntitle: Redeem a card\n---\n\nText.\n")
    report = sync.sync_content(branded, wait=True, chunks=False)
    assert [str(p) for p in report.problems] == [
        "_site.yml: warning: the folder gift-cards/ is not in `categories`: it is shown as "
        "“Gift cards”, after the listed ones"]
    (branded / "_words.yml").write_text("mail:\n  reply:\n    body: Hi ${nobody}\n")
    report = sync.sync_content(branded, wait=True, chunks=False)
    assert [p.path for p in report.errors] == ["_words.yml"]
    assert "${nobody} is not available here" in report.errors[0].message
    # The session's index is shared: leave it empty for the modules after this one.
    search_index.wait(search_index.clear())
