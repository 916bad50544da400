"""Walking the paginated lists of the service.

A list answers ``{"items": [...], "next": TOKEN_OR_NULL}``; the next page is
``?start=TOKEN``. Pages are fetched lazily, one at a time, so iterating over
a million jobs holds one page in memory, and breaking out of the loop early
fetches nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from schedy._routes import quote_segment
from schedy._transport import Transport
from schedy.errors import UnhandledResponseError

__all__ = ["PAGE_SIZE", "iter_items", "parse_page"]

#: Items asked per page (the service may cap it).
PAGE_SIZE = 1000


def parse_page(page: Any, path: str) -> tuple[list[Any], str | None]:
    """Check one page's shape and return ``(items, next_token)``.

    Raises:
        schedy.errors.UnhandledResponseError: the answer is not a page.

    Example:
        >>> parse_page({"items": [1, 2], "next": "abc"}, "experiments/")
        ([1, 2], 'abc')

    """
    if not isinstance(page, dict) or not isinstance(page.get("items"), list):
        raise UnhandledResponseError(f"GET {path} did not answer a page ({{'items': [...], 'next': ...}}).", 200)
    token = page.get("next")
    if token is not None and (not isinstance(token, str) or not token):
        raise UnhandledResponseError(f"GET {path} answered a page whose 'next' is not a token: {token!r}.", 200)
    return page["items"], token


def iter_items(transport: Transport, path: str, page_size: int = PAGE_SIZE) -> Iterator[Any]:
    """Yield every item of the list at ``path``, following ``next`` tokens.

    Raises:
        schedy.errors.UnhandledResponseError: a page is malformed, or the
            service hands out the same token twice (which would loop forever).

    """
    query = f"?limit={page_size}"
    seen: str | None = None
    while True:
        items, token = parse_page(transport.request("GET", path + query).json(), path)
        yield from items
        if token is None:
            return
        if token == seen:
            raise UnhandledResponseError(f"GET {path} answered the same page token twice: {token!r}.", 200)
        seen = token
        query = f"?limit={page_size}&start={quote_segment(token)}"
