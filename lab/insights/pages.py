"""What kind of page a shopper is on, and what kind of element they touched: shop words, no I/O.

Page kinds come from the URL path and query first (the most stable signal across sites),
then from the title and headings, then from the page structure's product count. The word
lists are short on purpose: a wrong 'other' costs less than a confident wrong kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

PageKind = Literal["home", "listing", "product", "cart", "checkout", "confirmation", "account", "other"]
PAGE_KINDS: tuple[PageKind, ...] = (
    "home",
    "listing",
    "product",
    "cart",
    "checkout",
    "confirmation",
    "account",
    "other",
)

# Checked in this order: a `checkout/confirmation` URL is a confirmation, not a checkout.
_KIND_WORDS: tuple[tuple[PageKind, re.Pattern[str]], ...] = (
    (
        "confirmation",
        re.compile(r"confirm|thank|order[-_ ]?(complete|placed|received|success)|success|receipt", re.I),
    ),
    ("checkout", re.compile(r"checkout|payment|\bpay\b|billing|shipping|delivery", re.I)),
    ("cart", re.compile(r"cart|basket|\bbag\b|trolley", re.I)),
    ("account", re.compile(r"login|log-in|sign[-_ ]?in|sign[-_ ]?up|register|account|profile", re.I)),
    ("product", re.compile(r"product|\bitem\b|/p/|/dp/|\bsku\b|detail", re.I)),
    ("listing", re.compile(r"categor|collection|catalog|search|results|\bc/|department|aisle", re.I)),
)
# Titles and headings are prose: whole words only ("Greenbasket" is a shop's name, not a basket),
# and no product kind (a product page's title is the product's name).
_TITLE_WORDS: tuple[tuple[PageKind, re.Pattern[str]], ...] = (
    (
        "confirmation",
        re.compile(r"\b(thank you|thanks|order (confirmed|complete|placed|received)|confirmation|receipt)\b", re.I),
    ),
    ("checkout", re.compile(r"\b(checkout|check out|payment|billing|shipping address|delivery details)\b", re.I)),
    ("cart", re.compile(r"\b(cart|basket|bag|trolley)\b", re.I)),
    ("account", re.compile(r"\b(log in|login|sign in|sign up|register|my account)\b", re.I)),
)
_HOME_NAMES = frozenset({"", "index", "index.html", "index.htm", "index.php", "home"})
_PRODUCT_ID_PARAMS = frozenset({"id", "pid", "product", "product_id", "sku", "item"})
_LISTING_PARAMS = frozenset({"q", "query", "search", "c", "category", "cat", "sort", "filter", "page"})

ADD_TO_CART = re.compile(
    r"\badd\b.*\b(cart|bag|basket|trolley)\b|^\s*\+?\s*add\s*(\+|item|one)?\s*$|\bbuy now\b|\badd-to-(cart|bag)\b",
    re.I,
)
CHECKOUT_ACTION = re.compile(r"check\s?out|proceed to (payment|checkout)|continue to (payment|checkout)", re.I)
PLACE_ORDER = re.compile(r"place (my )?order|\bpay\b|complete (purchase|order)|confirm (order|purchase)|buy now", re.I)
DISMISS = re.compile(
    r"accept|agree|got it|dismiss|close|no,? thanks|reject|decline|^\s*[x\u00d7\u2715]\s*$|cookie", re.I
)
# A currency symbol or code next to an amount: "$12.99", "12,99 €", "GBP 5".
PRICE_TEXT = re.compile(
    r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|cad|aud)\b)\s?\d[\d.,\s]*|\d[\d.,]*\s?(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf)\b)",
    re.I,
)
PRICE_WORDS = re.compile(r"price|total|subtotal|cost|amount|\bfee\b", re.I)


def _path_and_query(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return parts.path or "/", parse_qs(parts.query)


def page_kind(
    url: str, title: str = "", headings: Sequence[str] = (), structure: Mapping[str, Any] | None = None
) -> PageKind:
    """The kind of shop page a URL (and, failing that, its title, headings and structure) shows."""
    path, query = _path_and_query(url)
    last = path.rsplit("/", 1)[-1]
    for kind, words in _KIND_WORDS:
        if words.search(last):
            return kind
    if _PRODUCT_ID_PARAMS & query.keys():
        return "product"
    if _LISTING_PARAMS & query.keys():
        return "listing"
    for kind, words in _KIND_WORDS:
        if words.search(path):
            return kind
    text = " ".join([title, *headings[:3]])
    for kind, words in _TITLE_WORDS:
        if words.search(text):
            return kind
    if last.lower() in _HOME_NAMES:
        return "home"
    products = (structure or {}).get("products")
    if isinstance(products, list) and products:
        return "product" if len(products) == 1 else "listing"
    return "other"


def is_add_to_cart(text: str, selector: str | None = None) -> bool:
    """Whether a control's text (or, failing that, its selector) says it puts an item in the cart."""
    return bool(ADD_TO_CART.search(text) or (selector and ADD_TO_CART.search(selector)))


def is_price_text(text: str) -> bool:
    """Whether text shows an amount of money or names a price field ("Total", "Sort by price")."""
    return bool(PRICE_TEXT.search(text) or PRICE_WORDS.search(text))
