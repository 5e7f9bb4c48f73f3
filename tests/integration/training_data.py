"""Chat-format datasets for the fine-tuning tests, built by the real example builder (lab.training.examples)."""

from __future__ import annotations

import copy
from typing import Any

from lab.training.examples import ActionStep, PageContext, SelectorChoice, build_example, to_jsonl, webp_data_url

# Not a decodable WebP: the validator checks type, base64 and size, which is all the API checks before training.
SCREENSHOT = b"RIFF\x1a\x00\x00\x00WEBPVP8 fake screenshot bytes"


GOAL = "Put some cheese in the cart"


def click_step(i: int, screenshot: bool = True) -> ActionStep:
    return ActionStep(
        seq=i,
        step_number=i + 1,
        action="click",
        page=PageContext(url=f"https://shop.example/product.html?id={i}", title="Cheese shop", headings=("Cheese",)),
        target_tag="button",
        target_text=f"Add cheese {i} to cart",
        target_role="button",
        selectors=(
            SelectorChoice("testid", f'[data-testid="add-{i}"]', rank=0, reliability=1.0),
            SelectorChoice("css", f"main > div:nth-child({i + 1}) > button", rank=1, reliability=0.5),
        ),
        screenshot_webp=SCREENSHOT if screenshot else None,
        previous_actions=tuple(f'click button "Add cheese {k} to cart"' for k in range(i)),
    )


def examples(n: int, screenshot: bool = True, start: int = 0) -> list[dict[str, Any]]:
    return [build_example("shop", step=click_step(i, screenshot), goal=GOAL) for i in range(start, start + n)]


def jsonl(n: int, screenshot: bool = True) -> bytes:
    return to_jsonl(examples(n, screenshot)).encode()


def with_images(example: dict[str, Any], count: int) -> dict[str, Any]:
    """`example` with its user message carrying `count` screenshots."""
    grown = copy.deepcopy(example)
    image = {"type": "image_url", "image_url": {"url": webp_data_url(SCREENSHOT), "detail": "low"}}
    user = grown["messages"][1]["content"]
    grown["messages"][1]["content"] = [part for part in user if part["type"] == "text"] + [image] * count
    return grown


def eleven_images_jsonl(n: int = 10) -> bytes:
    """A dataset whose first example has 11 images: valid for Azure (64), not for OpenAI (10)."""
    rows = examples(n)
    rows[0] = with_images(rows[0], 11)
    return to_jsonl(rows).encode()
