"""reports/index.html in a real headless browser (Debian's Chromium, driven by Playwright):
it opens, every figure on it loads, and a screenshot is kept for the record."""

import os
import pathlib
import shutil

import pytest

from tests.test_report import fixture_files, report  # noqa: F401  (the report built from the fixture)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = pathlib.Path(__file__).resolve().parent.parent / "reports" / "test-screenshots"
# Needs Chromium: `make test` installs it and runs this; `make test-fast` deselects it (-m "not browser").
pytestmark = pytest.mark.browser


def test_index_html_renders_with_every_image(report):  # noqa: F811
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((report.out / "index.html").as_uri())
        page.wait_for_load_state("load")
        widths = page.evaluate("Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        title = page.title()
        headings = page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
        browser.close()
    assert title == "codecsweep report"
    assert len(widths) >= 6 and all(w > 0 for w in widths), widths
    assert any("Largest mean compression ratio" in h for h in headings)
    assert any(h.startswith("How hard can an image be compressed") for h in headings)  # the answer comes first
    assert headings.index("Provenance and caveats") < min(i for i, h in enumerate(headings) if "Largest mean" in h)
    assert (SCREENSHOTS / "index.png").stat().st_size > 20_000


def test_gallery_html_renders_with_every_thumbnail(tmp_path):
    """gallery.html (a report built with a tiny real cache): it opens from index.html's link,
    every image it references exists beside it and none is broken."""
    import re

    from codecsweep.report.build import build_report
    from tests.test_gallery import SQL, gallery_study

    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    files, cache = gallery_study(tmp_path / "in")
    out = tmp_path / "out"
    build_report(files, SQL, out_dir=out, cache_dir=cache)
    srcs = re.findall(r"<img src='([^']+)'", (out / "gallery.html").read_text())
    assert srcs and all((out / s).is_file() for s in srcs), srcs
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((out / "index.html").as_uri())
        page.click("a[href='gallery.html']")
        page.wait_for_load_state("load")
        title = page.title()
        images = page.evaluate(
            "Array.from(document.images).map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0])"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "gallery.png"), full_page=True)
        browser.close()
    assert title == "codecsweep variant gallery"
    assert sorted(s for s, _ in images) == sorted(srcs)
    assert all(w > 0 for _, w in images), images
