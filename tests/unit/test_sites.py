"""Loading fixture site folders and rendering their pages (no server, no browser)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from lab.sites import JourneyStep, SiteFormatError, discover_sites, load_site, render_page

SITES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "sites"
SHOP = SITES_DIR / "shop"

VALID_STEP = {"page": "index.html", "action": "click", "target": "buy"}


def make_site(
    root: Path,
    site: Any = None,
    journey: Any = None,
    pages: dict[str, str] | None = None,
) -> Path:
    """Write a site folder; `site`/`journey` may be objects (dumped as JSON) or raw text."""
    site = {"name": "tiny", "versions": ["v1", "v2"]} if site is None else site
    journey = [VALID_STEP] if journey is None else journey
    root.mkdir(parents=True, exist_ok=True)
    for version in ("v1", "v2"):
        (root / version).mkdir(exist_ok=True)
    for rel, text in (pages or {"v1/index.html": "<button data-lab-id=buy>Buy</button>"}).items():
        (root / rel).write_text(text)
    for name, content in (("site.json", site), ("journey.json", journey)):
        (root / name).write_text(content if isinstance(content, str) else json.dumps(content))
    return root


def test_shop_fixture_loads_with_its_journey() -> None:
    site = load_site(SHOP)

    assert site.name == "shop"
    assert site.versions == ("v1", "v2")
    assert site.root == SHOP
    assert 8 <= len(site.journey) <= 12
    assert site.journey[0] == JourneyStep(page="index.html", action="click", target="accept-cookies")
    assert site.journey[-1].target == "place-order"
    assert {step.action for step in site.journey} == {"click", "fill", "select", "scroll"}
    removed = [step.target for step in site.journey if not step.present_in("v2")]
    assert removed == ["dialog-view-cart"]
    assert len(site.journey_for("v2")) == len(site.journey) - 1
    assert site.pages()[:2] == ["index.html", "product.html?id=4"]


def test_step_value_and_removed_in_are_parsed(tmp_path: Path) -> None:
    journey = [{"page": "form.html?x=1", "action": "fill", "target": "q", "value": "hi", "removed_in": ["v2"]}]
    site = load_site(make_site(tmp_path, journey=journey))

    assert site.journey == (JourneyStep("form.html?x=1", "fill", "q", "hi", ("v2",)),)
    assert site.journey_for("v1") == list(site.journey)
    assert site.journey_for("v2") == []


@pytest.mark.parametrize(
    ("site", "journey", "file", "field"),
    [
        ("{", None, "site.json", "invalid JSON at line 1"),
        (["shop"], None, "site.json", "expected an object"),
        ({"versions": ["v1"]}, None, "site.json", "name: required field is missing"),
        ({"name": "", "versions": ["v1"]}, None, "site.json", "name: expected a non-empty string"),
        ({"name": "x", "versions": "v1"}, None, "site.json", "versions: expected a list of strings"),
        ({"name": "x", "versions": []}, None, "site.json", "versions: must list at least one version"),
        ({"name": "x", "versions": ["v1", 2]}, None, "site.json", "versions[1]: expected a non-empty string"),
        ({"name": "x", "versions": ["v1", "v3"]}, None, "site.json", "versions[1]: no folder 'v3'"),
        ({"name": "x", "versions": ["v1", "v1"]}, None, "site.json", "versions[1]: duplicate version 'v1'"),
        (None, {"steps": []}, "journey.json", "expected a list of steps"),
        (None, [VALID_STEP, "click"], "journey.json", "steps[1]: expected an object"),
        (None, [{"action": "click", "target": "a"}], "journey.json", "steps[0].page: required field is missing"),
        (None, [{**VALID_STEP, "page": "/abs.html"}], "journey.json", "steps[0].page: must be relative"),
        (None, [{**VALID_STEP, "page": "../up.html"}], "journey.json", "steps[0].page: must be relative"),
        (None, [{**VALID_STEP, "action": "tap"}], "journey.json", "steps[0].action: must be one of click, fill"),
        (None, [{**VALID_STEP, "target": ""}], "journey.json", "steps[0].target: expected a data-lab-id"),
        (None, [{**VALID_STEP, "action": "fill"}], "journey.json", "steps[0].value: required for action 'fill'"),
        (None, [{**VALID_STEP, "value": 3}], "journey.json", "steps[0].value: expected a string"),
        (None, [{**VALID_STEP, "removed_in": "v2"}], "journey.json", "steps[0].removed_in: expected a list"),
        (None, [{**VALID_STEP, "removed_in": ["v9"]}], "journey.json", "steps[0].removed_in[0]: unknown version 'v9'"),
        (None, [{**VALID_STEP, "wait": 1}], "journey.json", "steps[0].wait: unknown field"),
    ],
)
def test_malformed_site_names_file_and_field(tmp_path: Path, site: Any, journey: Any, file: str, field: str) -> None:
    root = make_site(tmp_path / "site", site=site, journey=journey)

    with pytest.raises(SiteFormatError) as caught:
        load_site(root)

    message = str(caught.value)
    assert str(root / file) in message
    assert field in message


def test_missing_journey_names_the_file(tmp_path: Path) -> None:
    root = make_site(tmp_path)
    (root / "journey.json").unlink()

    with pytest.raises(SiteFormatError, match=r"journey\.json: file not found"):
        load_site(root)


def test_discover_finds_sites_in_a_folder_and_a_site_folder_itself(tmp_path: Path) -> None:
    make_site(tmp_path / "many" / "tiny")
    (tmp_path / "many" / "notes").mkdir()

    found = discover_sites([SITES_DIR, tmp_path / "many"])

    assert set(found) >= {"shop", "tiny"}
    assert discover_sites([SHOP]) == {"shop": load_site(SHOP)}


def test_discover_rejects_two_sites_with_one_name(tmp_path: Path) -> None:
    make_site(tmp_path / "a")
    make_site(tmp_path / "b")

    with pytest.raises(SiteFormatError, match=r"b/site\.json: name: 'tiny' is already used by .*/a"):
        discover_sites([tmp_path])


def _ids_and_classes(html: str) -> tuple[list[str], list[str]]:
    return re.findall(r'(?<![\w-])id="([^"]+)"', html), re.findall(r'class="([^"]+)"', html)


def test_rid_and_hashed_agree_within_a_render_and_change_between_renders(tmp_path: Path) -> None:
    page = (
        "<style>.{{ hashed('Button_primary') }}{}</style>"
        "<label for=\"{{ rid('email') }}\">Email</label><input id=\"{{ rid('email') }}\">"
        "<button class=\"{{ hashed('Button_primary') }}\" id=\"{{ rid('buy') }}\">Buy</button>"
    )
    site = load_site(make_site(tmp_path, pages={"v1/index.html": page}))

    first = render_page(site, "v1", "index.html")
    second = render_page(site, "v1", "index.html")

    label_for = re.search(r'for="([^"]+)"', first)
    assert label_for and f'id="{label_for.group(1)}"' in first
    css_class = re.search(r"\.(Button_primary__\w+)\{", first)
    assert css_class and f'class="{css_class.group(1)}"' in first
    assert re.fullmatch(r"Button_primary__[A-Za-z0-9]{5}", css_class.group(1))
    assert re.fullmatch(r"email-[a-z0-9]{6}", label_for.group(1))
    assert set(_ids_and_classes(first)[0]).isdisjoint(_ids_and_classes(second)[0])
    assert _ids_and_classes(first)[1] != _ids_and_classes(second)[1]


def test_seeded_renders_repeat_and_shuffle_permutes(tmp_path: Path) -> None:
    page = "{{ shuffle(range(20)) | join(',') }} {{ rid('x') }}"
    site = load_site(make_site(tmp_path, pages={"v1/index.html": page}))

    once = render_page(site, "v1", "index.html", rng=random.Random(7))
    again = render_page(site, "v1", "index.html", rng=random.Random(7))
    other = render_page(site, "v1", "index.html", rng=random.Random(8))

    assert once == again != other
    numbers = once.split()[0].split(",")
    assert sorted(map(int, numbers)) == list(range(20)) and numbers != [str(n) for n in range(20)]


def test_plain_html_renders_verbatim(tmp_path: Path) -> None:
    page = "<!doctype html>\n<p id=fixed>Hello</p>\n<script>const a = {b: `${1}`};</script>\n"
    site = load_site(make_site(tmp_path, pages={"v1/plain.html": page}))

    assert render_page(site, "v1", "plain.html") == page


def test_templates_see_query_args_and_version(tmp_path: Path) -> None:
    page = "{{ version }}:{{ request.path }}:{{ request.args.get('id', 'none') }}:{{ request.args.q }}"
    site = load_site(make_site(tmp_path, pages={"v2/p.html": page}))

    assert render_page(site, "v2", "p.html?id=7&q=a%20b") == "v2:p.html:7:a b"


def test_shop_pages_regenerate_ids_but_keep_test_ids() -> None:
    site = load_site(SHOP)

    first = render_page(site, "v1", "product.html?id=4")
    second = render_page(site, "v1", "product.html?id=4")

    def add_button(html: str) -> dict[str, str]:
        tag = re.search(r'<button[^>]*data-testid="add-to-cart"[^>]*>', html)
        assert tag, "no add-to-cart button"
        return dict(re.findall(r'([\w-]+)="([^"]*)"', tag.group(0)))

    one, two = add_button(first), add_button(second)
    assert one["id"] != two["id"] and one["class"] != two["class"]
    assert one["data-testid"] == two["data-testid"] == "add-to-cart"
    assert "Pour-Over Kettle" in first
