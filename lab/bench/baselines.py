"""Baselines the benchmark holds our generator against, made on the same element at the same moment.

- @medv/finder and css-selector-generator, from node_modules: finder ships only as an ES
  module, so its source is wrapped into a classic script at run time (its `export`s dropped,
  the function kept in a closure); css-selector-generator's UMD build is a classic script.
- absolute XPath ("/html[1]/body[1]/..."), as browsers' "copy full XPath" writes it.
- Playwright's own locator: the harness points a locator at the element, and
  `locator.normalize()` returns the locator codegen would write; its resolved selector is
  evaluated through Playwright at replay time.

Every baseline yields exactly one selector per element; one it cannot make is an empty
selector, which matches nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import Frame, Locator, Page

from lab.config import PROJECT_ROOT
from lab.replay.engine import PLAYWRIGHT_ENGINE
from lab.selectors.outcomes import Candidate

NODE_MODULES = PROJECT_ROOT / "node_modules"
FINDER_PATH = Path("@medv/finder/finder.js")
CSS_SELECTOR_GENERATOR_PATH = Path("css-selector-generator/build/index.js")
IN_PAGE_SCRIPT = Path(__file__).with_name("baselines.js")
BASELINE_NAMES = ("finder", "css-selector-generator", "absolute-xpath", "playwright")
# Baselines in CSS or XPath are evaluated by the generator's query engine: prefix per name.
ENGINE_PREFIX = {"finder": "css=", "css-selector-generator": "css=", "absolute-xpath": "xpath="}
# Where a Playwright selector steps from a frame element into its document.
ENTER_FRAME = "internal:control=enter-frame"


class BaselineUnavailable(RuntimeError):
    """A baseline library is missing from node_modules; the message says how to install it."""


def _read(node_modules: Path, relative: Path) -> str:
    path = node_modules / relative
    if not path.is_file():
        raise BaselineUnavailable(f"{path} not found: run `npm install` (package.json lists the baselines)")
    return path.read_text(encoding="utf-8")


def classic_finder(source: str) -> str:
    """@medv/finder's ES module as a classic script that sets globalThis.__csFinder."""
    if re.search(r"^\s*import\s", source, flags=re.MULTILINE):
        raise BaselineUnavailable("@medv/finder now imports other modules; wrapping it needs a bundler")
    body = re.sub(r"^export\s+(?=(async\s+)?function|const|let|class)", "", source, flags=re.MULTILINE)
    if re.search(r"^\s*export\b", body, flags=re.MULTILINE):
        raise BaselineUnavailable("@medv/finder has an export form this wrapper does not know")
    return f"(function () {{\n{body}\nglobalThis.__csFinder = finder;\n}})();\n"


def in_page_script(node_modules: Path = NODE_MODULES) -> str:
    """One classic script defining globalThis.codesightBaselines in a page (walk contexts only)."""
    return "\n".join(
        (
            classic_finder(_read(node_modules, FINDER_PATH)),
            _read(node_modules, CSS_SELECTOR_GENERATOR_PATH),
            IN_PAGE_SCRIPT.read_text(encoding="utf-8"),
        )
    )


def playwright_selector(locator: Locator) -> str:
    """The resolved selector behind a normalized locator (what `page.locator()` takes back).

    Python's Locator has no public accessor for it; `str()` gives the Python code instead.
    """
    return str(locator._impl_obj._selector)


async def make_baselines(page: Page, frame: Frame, locator: Locator) -> tuple[Candidate, ...]:
    """Every baseline's selector for the element `locator` points at (an `Annotator` for walks)."""
    made = await locator.evaluate("el => globalThis.codesightBaselines.generate(el)")
    out = [
        Candidate(name, f"{ENGINE_PREFIX[name]}{made[name]}" if made.get(name) else "", 0.0)
        for name in ("finder", "css-selector-generator", "absolute-xpath")
    ]
    try:
        normalized = await locator.normalize()
        # A target in an iframe is replayed on the frame's own URL, as the extension records it,
        # so its locator starts inside the frame, like every other generator's.
        selector = playwright_selector(normalized).split(f" >> {ENTER_FRAME} >> ")[-1]
        code = str(normalized).split(".content_frame.")[-1]
    except Exception as exc:  # no locator is a baseline failure, counted as such; keep why
        selector, code = "", f"normalize failed: {str(exc).splitlines()[0]}"
    if "data-lab-" in selector:  # the harness's ground truth must not leak into a baseline
        selector, code = "", f"normalize used ground truth: {code}"
    out.append(Candidate("playwright", selector, 0.0, {"engine": PLAYWRIGHT_ENGINE, "code": code}))
    return tuple(out)
