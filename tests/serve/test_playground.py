"""The playground page in a real browser: headless Chromium driven by Playwright.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``make setup`` installs it) and
the ``playwright`` Python package; no ``playwright install`` download. The screenshot lands
in ``test-artifacts/playground.png`` (or $BIGMODEL_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BIGMODEL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (make setup does it)",
                allow_module_level=True)


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("BIGMODEL_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            tab = browser.new_page(viewport={"width": 1100, "height": 900})
            outside: list[str] = []
            tab.on("request", lambda r: None if r.url.startswith(server.url) else outside.append(r.url))
            tab.goto(server.url + "/")
            tab.outside_requests = outside
            yield tab
        finally:
            browser.close()


def test_typed_prompt_streams_text_into_the_page(page, server) -> None:
    engine = server.app.state.registry.models["tiny-gpt"].engine
    release = threading.Event()
    forward = engine._forward

    def gated(*args, **kwargs):
        # Hold the decode loop after 10 passes: the page must already show the text so far.
        if engine.forward_calls - start_calls >= 10:
            release.wait(30)
        return forward(*args, **kwargs)

    page.wait_for_function("document.querySelector('#gen-model').options.length > 0")
    page.fill("#gen-prompt", "Hello world, this is")
    page.fill("#gen-max-tokens", "40")
    page.fill("#gen-temperature", "0")
    start_calls = engine.forward_calls
    engine._forward = gated
    try:
        page.click("#gen-run")
        page.wait_for_function("document.querySelector('#gen-output').textContent.length > 0", timeout=30000)
        partial = page.text_content("#gen-output")
        assert "finish" not in page.text_content("#gen-info")  # still generating
    finally:
        release.set()
        del engine._forward
    page.wait_for_function("document.querySelector('#gen-info').textContent.includes('finish')", timeout=30000)
    text = page.text_content("#gen-output")
    assert len(text) > len(partial) and text.startswith(partial)
    assert "finish: length" in page.text_content("#gen-info")
    assert page.is_hidden("#error")


def test_fill_mask_tab_shows_ranked_tokens(page) -> None:
    page.click("nav button[data-tab='fill-mask']")
    page.fill("#mask-text", "the cat sat on the [MASK] .")
    page.click("#mask-run")
    page.wait_for_selector("#mask-output table")
    assert page.locator("#mask-output tr").count() == 5


def test_classify_tab_shows_one_bar_per_label(page) -> None:
    page.click("nav button[data-tab='classify']")
    page.wait_for_function("document.querySelector('#cls-model').options.length > 0")
    page.fill("#cls-text", "the cat sat on the mat .")
    page.click("#cls-run")
    page.wait_for_selector("#cls-output table")
    assert page.locator("#cls-output tr").count() == 2  # negative, positive


def test_similarity_and_attention_tabs_and_a_screenshot(page) -> None:
    page.click("nav button[data-tab='embed']")
    page.click("#emb-run")
    page.wait_for_selector("#emb-output table")
    assert page.locator("#emb-output tr").count() == 4  # header + 3 sentences
    page.click("nav button[data-tab='attention']")
    page.click("#att-run")
    page.wait_for_function("document.querySelector('#att-layer').options.length > 0")
    assert page.is_hidden("#error")
    page.screenshot(path=str(artifacts_dir() / "playground-attention.png"), full_page=True)
    page.click("nav button[data-tab='generate']")
    shot = artifacts_dir() / "playground.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert page.outside_requests == []  # everything came from the server itself
