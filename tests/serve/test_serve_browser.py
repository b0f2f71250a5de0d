"""The explorer end to end in Debian's headless Chromium (Playwright, no browser download): the
page of a trained LeNet-5 run, an upload, a drawing, a unit's computation and the epsilon slider.

Screenshots go to test-artifacts/serve/ (or $CNNKIT_ARTIFACTS), to be looked at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnkit.explain import activations

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("CNNKIT_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts")) / "serve"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, address):
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    problems: list[str] = []
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.goto(address)
    page.wait_for_selector('body[data-ready="1"]', timeout=60_000)
    yield page
    page.close()
    assert not problems, problems


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def probabilities(page) -> list[float]:
    return [float(v) for v in page.eval_on_selector_all('[data-testid="prob"]', "els => els.map(e => e.dataset.prob)")]


def wait_for_updates(page, before: int) -> None:
    page.wait_for_function(f"() => window.cnnkit.updates > {before}", timeout=30_000)


def test_the_overview_draws_every_layer_and_the_probabilities(page, explorer):
    layers = page.eval_on_selector_all('[data-testid="layer"]', "els => els.map(e => e.dataset.layer)")
    assert layers == [layer.id for layer in explorer.layers]
    maps = page.locator(f'canvas[data-testid="map"][data-layer="{explorer.mapped[0].id}"]')
    assert maps.count() == explorer.mapped[0].shape[0]
    assert sum(probabilities(page)) == pytest.approx(1, abs=1e-4) and len(probabilities(page)) == 10
    assert page.evaluate("window.cnnkit.renderMs") > 0
    shot(page, "overview")


def test_an_uploaded_image_is_predicted(page, explorer, tmp_path):
    trouser = explorer.samples[[i for i, label in enumerate(explorer.labels) if label == 1][0]]
    big = Image.fromarray((trouser[0] * 255).round().byte().numpy()).resize((112, 112), Image.Resampling.BICUBIC)
    big.save(tmp_path / "trouser.png")
    expected = explorer.predict({"pixels": explorer.upload((tmp_path / "trouser.png").read_bytes())["pixels"]})["top"]
    before = page.evaluate("window.cnnkit.updates")
    page.set_input_files("#upload", str(tmp_path / "trouser.png"))
    wait_for_updates(page, before)
    page.wait_for_function(f"() => document.querySelector('#prediction').dataset.top === '{expected}'", timeout=30_000)
    assert expected == 1   # the trained model sees the trouser
    assert "Trouser" in page.inner_text("#prediction")
    shot(page, "upload")


def test_drawing_changes_the_probabilities_as_the_user_draws(page):
    before = page.evaluate("window.cnnkit.updates")
    page.click("#clear")
    wait_for_updates(page, before)
    blank = probabilities(page)
    box = page.locator("#draw").bounding_box()
    count = page.evaluate("window.cnnkit.updates")
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    for k in range(1, 21):   # a long vertical stroke, then a second leg: a rough pair of trousers
        page.mouse.move(box["x"] + box["width"] * (0.35 - 0.01 * k / 2), box["y"] + box["height"] * (0.1 + 0.04 * k))
    page.mouse.up()
    page.mouse.move(box["x"] + box["width"] * 0.65, box["y"] + box["height"] * 0.1)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * (0.65 + 0.01 * k / 2), box["y"] + box["height"] * (0.1 + 0.04 * k))
    page.mouse.up()
    wait_for_updates(page, count)
    page.wait_for_timeout(500)   # the final prediction after the pen is lifted
    drawn = probabilities(page)
    assert max(abs(a - b) for a, b in zip(blank, drawn)) > 0.05
    shot(page, "drawing")


def test_a_clicked_unit_shows_the_models_activation(page, explorer):
    layer = next(l for l in explorer.mapped if l.kind == "conv" and l.id != explorer.mapped[0].id)
    page.click('[data-testid="sample"][data-index="4"]')
    page.wait_for_timeout(300)
    canvas = page.locator(f'canvas[data-testid="map"][data-layer="{layer.id}"][data-channel="5"]')
    size = canvas.bounding_box()
    canvas.click(position={"x": size["width"] * 0.55, "y": size["height"] * 0.45})
    page.wait_for_selector(f'#unit[data-layer="{layer.id}"][data-channel="5"][data-sum]', timeout=30_000)
    unit = page.eval_on_selector("#unit", "e => ({...e.dataset})")
    y, x = int(unit["y"]), int(unit["x"])
    with torch.no_grad():
        truth = activations(explorer.model, explorer.samples[4][None], [layer.id])[layer.id][0, 5, y, x]
    assert float(unit["value"]) == pytest.approx(float(truth), abs=1e-5)
    assert float(unit["sum"]) == pytest.approx(float(truth), abs=1e-4)   # the page's own arithmetic
    assert page.inner_text("#unit").count("bias") >= 1
    shot(page, "unit")
    page.click("#slide")
    page.wait_for_function(f"() => document.querySelector('#unit').dataset.x !== '{x}' || "
                           f"document.querySelector('#unit').dataset.y !== '{y}'", timeout=30_000)
    page.click("#slide")


def test_the_epsilon_slider_flips_the_prediction(page, explorer):
    page.click('[data-testid="sample"][data-index="0"]')
    page.click('button[data-tab="attack"]')
    page.select_option("#attack-method", "fgsm")
    page.locator("#eps").fill("0")
    page.wait_for_selector('#adv-prediction[data-eps="0"]', timeout=30_000)
    clean = page.get_attribute("#adv-prediction", "data-top")
    assert clean == str(explorer.predict({"sample": 0})["top"])
    page.locator("#eps").fill("0.3")
    page.wait_for_selector('#adv-prediction[data-eps="0.3"]', timeout=30_000)
    assert page.get_attribute("#adv-prediction", "data-top") != clean
    shot(page, "attack")


def test_the_playground_and_explain_tabs_draw(page):
    page.click('button[data-tab="playground"]')
    page.fill("#pg-size", "6")
    page.select_option("#pg-padding", "same")
    page.fill("#pg-stride", "2")
    page.locator("#pg-stride").dispatch_event("change")
    page.wait_for_function("() => (document.querySelector('#pg-output').dataset.size || '').startsWith('3')", timeout=30_000)
    shot(page, "playground")
    page.click('button[data-tab="explain"]')
    page.select_option("#explain-method", "gradcam")
    page.click("#explain-run")
    page.wait_for_selector('#explain-map[data-done="1"]', timeout=30_000)
    shot(page, "explain")
