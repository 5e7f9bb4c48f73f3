"""The analyzer used without an OpenAI key: intent read from the DOM (URL, title, headings, target), labelled as such.

It sees what the page event and the action recorded, not pixels; its answers carry
`source: "dom-heuristic"` so nobody mistakes them for a vision model's.
"""

from __future__ import annotations

import re

from lab.insights.events import collapse
from lab.insights.pages import CHECKOUT_ACTION, DISMISS, PLACE_ORDER, is_add_to_cart, page_kind
from lab.vision.intent import DOM_HEURISTIC_SOURCE, ScreenInput, ScreenIntent

# A rule that names the intent outright ("Add to cart") is right most of the time.
RULE_CONFIDENCE = 0.7
# Form steps: the field's label says what is being entered.
FIELD_CONFIDENCE = 0.8
# Only the element's name is known: the intent is a restatement of the click.
GENERIC_CONFIDENCE = 0.4
# Longer labels are product blurbs; the gist fits in this many characters.
MAX_LABEL_CHARS = 80

QUANTITY = re.compile(r"^\s*[+\-\u2212\u2013]\s*$|\bqty\b|quantity|increase|decrease", re.I)
MENU = re.compile(r"\bmenu\b|navigation|hamburger", re.I)
POPUP = re.compile(r"cookie|consent|newsletter|dialog|modal|banner|popup|pop-up", re.I)
CART_LINK = re.compile(r"\b(view |go to |my )?(cart|basket|bag|trolley)\b", re.I)
CHOICE_ROLES = frozenset({"radio", "option", "checkbox", "tab", "switch", "menuitemradio"})


def _label(text: str | None) -> str:
    return collapse(text)[:MAX_LABEL_CHARS]


def target_description(screen: ScreenInput) -> str:
    """How a person would name the element: its role (or tag) and its text or label."""
    if screen.action == "navigate":
        return f"the address bar ({screen.destination_url or 'another page'})"
    what = screen.target_role or screen.target_tag or ("field" if screen.action in ("fill", "select") else "element")
    label = _label(screen.field_label) or _label(screen.target_text)
    return f'{what} "{label}"' if label else what


def _click_intent(screen: ScreenInput, kind: str) -> tuple[str, float]:
    text = _label(screen.target_text)
    context = " ".join([text, screen.outline[:400]])
    if is_add_to_cart(text):
        return "add the product to the cart", RULE_CONFIDENCE
    if PLACE_ORDER.search(text):
        return "place the order", RULE_CONFIDENCE
    if CHECKOUT_ACTION.search(text):
        return "proceed to checkout", RULE_CONFIDENCE
    if DISMISS.search(text) and POPUP.search(context):
        return "dismiss the pop-up", RULE_CONFIDENCE
    if QUANTITY.search(text):
        return "change the quantity", RULE_CONFIDENCE
    if MENU.search(text):
        return "open the menu", RULE_CONFIDENCE
    if CART_LINK.fullmatch(text.split("(")[0].strip()):
        return "open the cart", RULE_CONFIDENCE
    if (screen.target_role or "") in CHOICE_ROLES:
        return f'choose "{text}"', RULE_CONFIDENCE
    if kind in ("home", "listing") and (screen.target_role == "link" or screen.target_tag == "a") and text:
        return f'open "{text}"', RULE_CONFIDENCE
    return (f'click "{text}"' if text else "click an unlabelled element"), GENERIC_CONFIDENCE


def dom_intent(screen: ScreenInput) -> ScreenIntent:
    """The DOM analyzer: intent, page type, target description and a rule-based confidence."""
    kind = page_kind(screen.url, screen.title, screen.headings)
    label = _label(screen.field_label) or _label(screen.target_text) or "the field"
    if screen.action == "fill":
        intent, confidence = f"enter {label}", FIELD_CONFIDENCE
    elif screen.action == "select":
        chosen = f": {_label(screen.value)}" if screen.value else ""
        intent, confidence = f"choose {label}{chosen}", FIELD_CONFIDENCE
    elif screen.action == "navigate":
        destination = page_kind(screen.destination_url or "")
        intent = f"go to the {destination} page" if destination != "other" else "go to another page"
        confidence = RULE_CONFIDENCE if destination != "other" else GENERIC_CONFIDENCE
    else:
        intent, confidence = _click_intent(screen, kind)
    return ScreenIntent(
        intent=intent,
        page_type=kind,
        target_description=target_description(screen),
        confidence=confidence,
        source=DOM_HEURISTIC_SOURCE,
    )
