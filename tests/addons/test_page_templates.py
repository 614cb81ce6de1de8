"""Tests for addons.page_templates: bundled and overriding templates, escaping, refusals."""

from __future__ import annotations

import logging
import subprocess
import sys
import zipfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest

from addons.page_templates import TemplateRefused, Templates, bundled
from addons.pages import PAGE_SAMPLES, ContinueForm, PageFacts, RequestForm, block_page, warn_page

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("base.html", "brand.html", "parts.html", "style.css", "warn.html", "block.html")
SCRIPT = "<script>alert(1)</script>"
FACTS = PageFacts(
    host="www.facebook.com",
    category="social",
    guidance=("If in doubt, don't post it.",),
    reason="You have not completed Social media basics yet.",
    courses=(),
    roles=("comms-publisher",),
    reference="ABC123",
)
FORM = ContinueForm("/.well-known/leeway/continue", "tok", "/")
REQUEST = RequestForm("http://leeway.internal/requests", "tok", "social", ("comms-publisher",))


def _override(tmp_path: Path, **files: str) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    for name, text in files.items():
        (directory / name.replace("_html", ".html")).write_text(text, encoding="utf-8")
    return directory


def test_bundled_templates_are_package_resources() -> None:
    found = {entry.name for entry in resources.files("addons").joinpath("templates").iterdir()}
    assert set(PAGES) | {"request_form.html"} <= found


def test_bundled_templates_render_every_sample() -> None:
    templates = Templates.load(None, PAGE_SAMPLES)
    for name, contexts in PAGE_SAMPLES.items():
        for context in contexts:
            assert "<main>" in templates.render(name, **context)


def test_every_template_is_autoescaped_whatever_its_name(tmp_path: Path) -> None:
    directory = _override(tmp_path, **{"note.txt": "{{ value }}", "note_html": "{{ value }}"})
    templates = Templates.load(directory)
    for name in ("note.txt", "note.html"):
        assert templates.render(name, value=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_host_guidance_and_justification_are_escaped() -> None:
    facts = replace(FACTS, host=SCRIPT, guidance=(SCRIPT,), category=SCRIPT)
    form = replace(REQUEST, justification=SCRIPT, error=SCRIPT, roles=(SCRIPT, "b"))
    for markup in (warn_page(facts, FORM)[1], block_page(facts, request_form=form)[1]):
        assert "<script" not in markup
        assert markup.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3
    block = block_page(facts, request_form=form)[1]
    assert f">{'&lt;script&gt;alert(1)&lt;/script&gt;'}</textarea>" in block


def test_request_form_with_one_role_sends_it_hidden() -> None:
    markup = block_page(FACTS, request_form=REQUEST)[1]
    assert '<form method="post" action="http://leeway.internal/requests"' in markup
    assert '<input type="hidden" name="role" value="comms-publisher">' in markup
    assert '<input type="hidden" name="category" value="social">' in markup
    assert '<input type="hidden" name="token" value="tok">' in markup
    assert 'type="radio"' not in markup
    assert 'name="justification" required maxlength="500"' in markup
    assert '<label for="ask-social-why">' in markup and 'id="ask-social-why"' in markup
    assert '<button type="submit">Ask for access</button>' in markup


def test_request_form_with_roles_to_choose_from_is_a_radio_group() -> None:
    form = replace(REQUEST, roles=("comms-publisher", "video-editor"))
    markup = block_page(FACTS, request_form=form)[1]
    assert "<fieldset>" in markup and "<legend>" in markup
    for role in form.roles:
        assert f'<input type="radio" name="role" value="{role}" required> {role}</label>' in markup
    assert 'type="hidden" name="role"' not in markup


def test_no_request_form_no_form() -> None:
    assert "justification" not in block_page(FACTS)[1]


def test_pages_link_to_the_portal_they_are_given() -> None:
    portal = "https://leeway.corp.example/"
    for markup in (
        warn_page(FACTS, FORM, portal_url=portal)[1],
        block_page(FACTS, portal_url=portal)[1],
    ):
        assert f'<a href="{portal}">See all your access</a>' in markup


def test_an_override_replaces_the_bundled_template(tmp_path: Path) -> None:
    logo = "data:image/png;base64,iVBORw0KGgo="
    brand = f'<img src="{logo}" alt="">Ministry of Examples\n'
    templates = Templates.load(_override(tmp_path, brand_html=brand), PAGE_SAMPLES)
    markup = block_page(FACTS, templates=templates)[1]
    assert '<header class="brand"><img src="data:image/png;base64,iVBORw0KGgo=" alt="">' in markup
    assert "Ministry of Examples" in markup
    assert "Ministry of Examples" not in block_page(FACTS)[1]


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    directory = _override(tmp_path, block_html='{% extends "base.html" %}\n\n{% block content %')
    with pytest.raises(TemplateRefused, match=rf"^{directory}/block\.html:3: "):
        Templates.load(directory, PAGE_SAMPLES)


def test_a_syntax_error_in_an_unused_partial_is_refused(tmp_path: Path) -> None:
    directory = _override(tmp_path, logo_html="<b>\n{{ name }\n")
    with pytest.raises(TemplateRefused, match=rf"{directory}/logo\.html:2: "):
        Templates.load(directory, PAGE_SAMPLES)


def test_an_unknown_variable_names_the_file_and_line(tmp_path: Path) -> None:
    directory = _override(tmp_path, brand_html="Ministry\nof {{ organisation }}\n")
    with pytest.raises(TemplateRefused, match=rf"{directory}/brand\.html:2: .*'organisation'"):
        Templates.load(directory, PAGE_SAMPLES)


def test_an_unknown_attribute_on_one_branch_is_found(tmp_path: Path) -> None:
    child = (
        '{% extends "base.html" %}{% block title %}t{% endblock %}\n'
        "{% block content %}\n{% if request_form %}\n{{ request_form.reason }}\n"
        "{% endif %}\n{% endblock %}\n"
    )
    directory = _override(tmp_path, block_html=child)
    with pytest.raises(TemplateRefused, match=rf"{directory}/block\.html:4: .*'reason'"):
        Templates.load(directory, PAGE_SAMPLES)


def test_a_missing_include_is_refused(tmp_path: Path) -> None:
    directory = _override(tmp_path, brand_html='{% include "logo.html" %}')
    with pytest.raises(TemplateRefused, match=rf"{directory}/brand\.html:1: .*'logo\.html'"):
        Templates.load(directory, PAGE_SAMPLES)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        pytest.param(lambda p: p / "absent", "not a directory", id="missing"),
        pytest.param(lambda p: (p / "file").touch() or p / "file", "not a directory", id="file"),
    ],
)
def test_the_directory_must_exist(tmp_path: Path, setup: object, expected: str) -> None:
    assert callable(setup)
    with pytest.raises(TemplateRefused, match=expected):
        Templates.load(setup(tmp_path))


def test_hidden_files_are_not_templates(tmp_path: Path) -> None:
    directory = _override(tmp_path, brand_html="Ministry")
    (directory / ".DS_Store").write_bytes(b"\xff\xfe\x00")
    (directory / ".brand.html.swp").write_text("{% broken", encoding="utf-8")
    assert "Ministry" in block_page(FACTS, templates=Templates.load(directory, PAGE_SAMPLES))[1]


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    directory = _override(tmp_path)
    (directory / "brand.html").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(TemplateRefused, match=r"brand\.html: not UTF-8"):
        Templates.load(directory, PAGE_SAMPLES)


def test_a_failure_at_run_time_falls_back_to_the_bundled_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A branch no sample takes: the check at start passes, the page for it fails.
    brand = '{% if portal_url == "http://other.example/" %}{{ nope }}{% endif %}Ministry'
    templates = Templates.load(_override(tmp_path, brand_html=brand), PAGE_SAMPLES)
    assert "Ministry" in block_page(FACTS, templates=templates)[1]
    with caplog.at_level(logging.WARNING, logger="leeway.pages"):
        markup = block_page(FACTS, templates=templates, portal_url="http://other.example/")[1]
    assert markup == block_page(FACTS, portal_url="http://other.example/")[1]
    assert "brand.html:1" in caplog.text and "the bundled one is used" in caplog.text


def test_bundled_is_loaded_once() -> None:
    assert bundled() is bundled()


@pytest.mark.slow
@pytest.mark.process
def test_a_built_wheel_contains_the_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = tmp_path.glob("leeway-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for page in (*PAGES, "request_form.html"):
        assert f"addons/templates/{page}" in names
