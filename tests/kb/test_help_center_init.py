"""`portal init` starts a help center that is wholly the new business's; editors manage
its categories, written back into the site file with history."""

from __future__ import annotations

import re
from email import message_from_string, policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect

from portal.accounts.models import Role
from portal.chat import llm
from portal.cli import main
from portal.kb import sync
from portal.kb.models import KbSiteRevision
from portal.tickets import services as tickets

NAME = "Bramble & Co."


@pytest.fixture
def new_center(app, tmp_path: Path) -> Path:
    folder = tmp_path / "bramble"
    result = CliRunner().invoke(main, ["init", str(folder), "--name", NAME])
    assert result.exit_code == 0, result.output
    assert f"Wrote 11 files for {NAME}" in result.output
    app.config["CONTENT_DIR"] = str(folder)
    report = sync.sync_content(folder, wait=True)
    assert report.problems == [] and len(report.added) == 3, report.summary()
    return folder


def outbox(app) -> list[str]:
    folder = Path(app.instance_path) / "outbox"
    return [p.read_text() for p in sorted(folder.glob("*.eml"))] if folder.exists() else []


def test_init_serves_a_help_center_under_the_new_name(app, client, new_center: Path):
    pages = {path: client.get(path) for path in ("/kb", "/", "/kb/welcome",
                                                  "/kb/search?q=forgot+password")}
    assert {p: r.status_code for p, r in pages.items()} == dict.fromkeys(pages, 200)
    home = pages["/kb"].get_data(as_text=True)
    assert "<title>Help Center · Bramble &amp; Co. Support</title>" in home
    assert "Bramble &amp; Co." in home
    # Its categories, in the site file's order, with descriptions and icons.
    assert home.index("Getting started") < home.index("Account and sign-in")
    assert "Your first steps, and how to reach us." in home and "🚀" in home
    assert "Getting started" in pages["/kb/welcome"].get_data(as_text=True)
    assert "slug=reset-password" in pages["/kb/search?q=forgot+password"].get_data(as_text=True)
    assert "Hi! Ask me a question about Bramble &amp; Co." in pages["/"].get_data(as_text=True)
    theme = client.get("/site/theme.css").get_data(as_text=True)
    assert "--brand: #1f5f8b;" in theme and "--accent: #1f5fbf;" in theme

    # The outbox may hold other tests' mail (it lives in the shared instance folder).
    earlier = outbox(app)
    tickets.create_ticket(subject="Cannot sign in", description="The link expired.",
                          requester_id=None, requester_email="robin@example.com",
                          requester_name="Robin")
    [raw] = [m for m in outbox(app) if m not in earlier and "robin@example.com" in m]
    mail = message_from_string(raw, policy=policy.default)
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail["From"] == '"Bramble & Co. Support" <support@bramble-co.example>'
    assert "Thanks for contacting Bramble & Co. Support" in body

    prompt = llm.build_prompt("How do I reset my password?", []).messages[0]["content"]
    assert "you are Bramble & Co. Assistant and you answer customers of Bramble & Co." in prompt
    assert "Bramble & Co.'s products, your account and orders" in prompt
    assert "if it is one of: en; otherwise in\n  en." in prompt

    seen = " ".join([*(r.get_data(as_text=True) for r in pages.values()), theme, raw, prompt])
    assert not re.search("hearthly|thermostat", seen, re.I)
    assert not re.search("hearthly", "".join(p.read_text() for p in new_center.rglob("*.*")),
                         re.I)


def test_words_in_the_content_folder_change_the_mails(app, new_center: Path):
    words = new_center / "_words.yml"
    words.write_text(words.read_text().replace(
        "Thanks for contacting ${support_name}.", "Cheers for writing to ${business}!"))
    tickets.create_ticket(subject="Hello", description="Hi there.", requester_id=None,
                          requester_email="robin@example.com", requester_name="Robin")
    assert "Cheers for writing to Bramble & Co.!" in outbox(app)[-1]


def _categories_form(page: str) -> dict[str, object]:
    values = {name: re.findall(rf'name="{name}" value="([^"]*)"', page)
              for name in ("slug", "position", "name", "description", "icon")}
    values["base_hash"] = re.search(r'name="base_hash" value="(\w*)"', page).group(1)
    return values


def test_editors_rename_reorder_and_describe_categories(app, client, login, make_user,
                                                       login_as, new_center: Path):
    site_file = new_center / "_site.yml"
    original = site_file.read_text()
    customer = login(make_user(Role.CUSTOMER), the_client=app.test_client())
    assert customer.get("/kb/editor/categories").status_code == 403
    assert customer.post("/kb/editor/site-restore/1").status_code == 403
    login_as(Role.EDITOR, email="ed@example.com", name="Edith")
    form = _categories_form(client.get("/kb/editor/categories").get_data(as_text=True))
    assert form["slug"] == ["getting-started", "account"]
    form["position"] = ["2", "1"]
    form["name"] = ["First steps", "Your account"]
    form["description"] = ["Start here.", "Passwords and sign-in."]
    response = client.post("/kb/editor/categories", data=form)
    assert response.status_code == 302

    text = site_file.read_text()
    assert text.index("slug: account") < text.index("slug: getting-started")
    assert "name: First steps" in text and "description: Passwords and sign-in." in text
    # Only the categories block changed: the comments and other settings stay.
    assert text.split("categories:")[0] == original.split("categories:")[0]
    home = client.get("/kb").get_data(as_text=True)
    assert home.index("Your account") < home.index("First steps") and "Start here." in home

    history = client.get("/kb/editor/site-history").get_data(as_text=True)
    assert "Categories by Edith" in history and "+    name: First steps" in history
    original_id = min(r.id for r in app.extensions["sqlalchemy"].session.query(KbSiteRevision))
    assert client.post(f"/kb/editor/site-restore/{original_id}").status_code == 302
    assert site_file.read_text() == original
    assert "Getting started" in client.get("/kb").get_data(as_text=True)


def test_a_bad_or_stale_category_save_loses_nothing(app, client, login_as, new_center: Path):
    site_file = new_center / "_site.yml"
    original = site_file.read_text()
    login_as(Role.EDITOR)
    form = _categories_form(client.get("/kb/editor/categories").get_data(as_text=True))
    response = client.post("/kb/editor/categories", data={**form, "name": ["", "Account"]})
    assert response.status_code == 422
    assert "Give “getting-started” a name." in response.get_data(as_text=True)
    response = client.post("/kb/editor/categories", data={**form, "position": ["x", "1"]})
    assert response.status_code == 422 and "must be a number" in response.get_data(as_text=True)
    assert site_file.read_text() == original

    site_file.write_text(original.replace("Bramble & Co. Assistant", "Bram"))
    response = client.post("/kb/editor/categories", data={**form, "name": ["Start", "Account"]})
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "changed on disk since you opened" in page
    assert 'value="Start"' in page and "Bram" in site_file.read_text()
    again = _categories_form(page)
    assert client.post("/kb/editor/categories", data={**again, "name": ["Start", "Account"]}
                       ).status_code == 302
    assert "name: Start" in site_file.read_text() and 'name: "Bram"' in site_file.read_text()


@pytest.mark.browser
def test_the_brand_colours_and_logo_reach_the_browser(app, new_center: Path, live_server, page):
    (new_center / "_assets").mkdir()
    (new_center / "_assets" / "logo.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8" width="28" height="28">'
        '<rect width="8" height="8" fill="#2d5a27"/></svg>')
    site_file = new_center / "_site.yml"
    site_file.write_text(site_file.read_text()
                         .replace('brand: "#1f5f8b"', 'brand: "#2d5a27"')
                         .replace("# logo: _assets/logo.svg", "logo: _assets/logo.svg"))
    page.goto(f"{live_server}/kb")
    send = page.locator(".kb-hero button[type=submit]")
    assert send.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(45, 90, 39)"
    logo = page.locator("img.brand-logo")
    expect(logo).to_be_visible()
    assert logo.evaluate("e => e.naturalWidth") > 0
    assert page.title() == "Help Center · Bramble & Co. Support"


@pytest.mark.parametrize("name", ["Acme: Tools & Pipes", "#1 Plumbing"])
def test_a_name_yaml_reads_specially_still_titles_every_article(tmp_path: Path, name: str):
    from portal.kb.documents import load_content

    folder = tmp_path / "shop"
    result = CliRunner().invoke(main, ["init", str(folder), "--name", name])
    assert result.exit_code == 0, result.output
    loaded = load_content(folder)
    assert loaded.errors == []
    assert f"Welcome to {name}" in {article.title for article in loaded.articles}
