"""Loading and rendering Markdown: every bad input the issue lists, reported with file and line."""

from __future__ import annotations

import os
import re
from pathlib import Path

from portal.kb.documents import load_content
from portal.kb.rendering import render_markdown, split_sections
from tests.kb.conftest import article_text, write


def messages(root: Path) -> list[str]:
    return [str(p) for p in load_content(root).problems]


def test_loads_articles_with_defaults_and_skips_non_articles(tiny_kb: Path):
    result = load_content(tiny_kb)
    slugs = {a.slug for a in result.articles}
    assert slugs == {"reset-password", "two-step", "refunds", "secret-runbook", "upcoming-plan"}
    reset = next(a for a in result.articles if a.slug == "reset-password")
    assert reset.category == "account"
    assert reset.tags == ("password", "sign-in")
    assert reset.status == "published" and reset.audience == "public"
    assert reset.path == "account/reset-password.md"
    assert result.problems == []


def test_broken_yaml_is_reported_with_its_line(tmp_path: Path):
    write(tmp_path, "a/broken.md", "---\ntitle: Fine\ntags: [unclosed\nsummary: x\n---\nBody\n")
    write(tmp_path, "a/good.md", article_text("Good"))
    result = load_content(tmp_path)
    assert [a.slug for a in result.articles] == ["good"]
    (problem,) = result.problems
    assert problem.path == "a/broken.md" and problem.line in (3, 4, 5)
    assert "broken front matter" in problem.message


def test_missing_title_and_missing_front_matter(tmp_path: Path):
    write(tmp_path, "a/untitled.md", "---\nsummary: no title here\n---\nBody\n")
    write(tmp_path, "a/plain.md", "# Just markdown\n")
    found = messages(tmp_path)
    assert "a/untitled.md:1: error: the front matter has no title" in found
    assert any(m.startswith("a/plain.md:1: error: missing front matter") for m in found)


def test_duplicate_slug_keeps_the_first(tmp_path: Path):
    write(tmp_path, "a/one.md", article_text("One", slug="same"))
    write(tmp_path, "b/two.md", article_text("Two", slug="same"))
    result = load_content(tmp_path)
    assert [a.path for a in result.articles] == ["a/one.md"]
    assert "b/two.md:1: error: duplicate slug 'same' (also in a/one.md)" in messages(tmp_path)


def test_invalid_utf8_names_the_line(tmp_path: Path):
    path = tmp_path / "a" / "latin1.md"
    path.parent.mkdir()
    path.write_bytes(b"---\ntitle: Caf\xe9\n---\nBody\n")
    assert messages(tmp_path) == ["a/latin1.md:2: error: the file is not valid UTF-8"]


def test_link_to_a_missing_slug_is_a_warning_with_its_line(tmp_path: Path):
    write(tmp_path, "a/linker.md", article_text("Linker", "Intro\n\nSee [gone](no-such-article)."))
    result = load_content(tmp_path)
    assert [a.slug for a in result.articles] == ["linker"]
    (warning,) = result.warnings
    assert str(warning) == "a/linker.md:6: warning: link to a missing article: no-such-article"


def test_symlink_out_of_the_content_dir_is_refused(tmp_path: Path):
    outside = tmp_path / "secret.md"
    outside.write_text(article_text("Secret server file"))
    root = tmp_path / "content"
    write(root, "a/fine.md", article_text("Fine"))
    os.symlink(outside, root / "a" / "sneaky.md")
    os.symlink(tmp_path, root / "escape")
    result = load_content(root)
    assert [a.slug for a in result.articles] == ["fine"]
    found = messages(root)
    assert "a/sneaky.md: error: symlink points outside the content directory" in found
    assert "escape: error: symlink points outside the content directory" in found


def test_bad_field_values_are_named(tmp_path: Path):
    write(tmp_path, "a/bad.md", article_text("Bad", status="maybe"))
    write(tmp_path, "a/when.md", article_text("When", updated="someday"))
    found = messages(tmp_path)
    assert "a/bad.md:3: error: status must be one of published, draft, archived" in found
    assert "a/when.md:3: error: updated must be a date (YYYY-MM-DD)" in found


def test_raw_html_scripts_and_javascript_links_render_inert():
    html = render_markdown(
        "<script>alert(1)</script>\n\n"
        '<img src=x onerror="alert(2)">\n\n'
        '<a href="#" onclick="steal()">click</a>\n\n'
        "[bad](javascript:alert(3)) [worse](JaVaScRiPt:alert(4)) ![i](javascript:alert(5))\n\n"
        "[data](data:text/html;base64,PHNjcmlwdD4=) [ok](https://example.com)\n"
    ).html
    tags = re.findall(r"<[a-z][^>]*>", html)
    assert not [t for t in tags if re.search(r"\son\w+=", t)], tags
    assert not [t for t in tags if t.startswith(("<script", "<img"))], tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript' not in html.lower() and 'href="data:' not in html
    assert '<a href="https://example.com" rel="noopener noreferrer">ok</a>' in html


def test_headings_get_anchors_toc_and_internal_links_point_to_articles():
    rendered = render_markdown("Intro\n\n## First step\n\nSee [reset](reset-password#tips).\n\n"
                               "### Detail\n\n## First step\n")
    assert '<h2 id="first-step">First step</h2>' in rendered.html
    assert '<h2 id="first-step-1">First step</h2>' in rendered.html
    assert 'href="/kb/reset-password#tips"' in rendered.html
    assert [(t.level, t.anchor) for t in rendered.toc] == [
        (2, "first-step"), (3, "detail"), (2, "first-step-1")]
    sections = split_sections("T", "Intro\n\n## First step\n\ntext\n\n## First step\n")
    assert [s.anchor for s in sections] == ["", "first-step", "first-step-1"]
