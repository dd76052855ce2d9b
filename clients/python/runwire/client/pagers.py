"""Pagers: iterate the items of a List or Search call across pages (AIP-158).

    for agent in client.agents.list(filter="state = ACTIVE"):   # sync
        ...
    async for agent in client.agents.list(page_size=50):         # asyncio
        ...
    for page in client.agents.list().pages():                    # whole responses
        page.next_page_token

A pager sends the request, then the same request with each `next_page_token`
until one is empty. Nothing is sent before iteration starts.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Generator, Generic, Iterator, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from runwire.client.errors import PageTokenLoop

Item = TypeVar("Item")


def items_field(response_type: type[Message]) -> str:
    """The field of a list response holding its items: its first repeated message field."""
    for candidate in response_type.DESCRIPTOR.fields:
        if candidate.is_repeated and candidate.type == FieldDescriptor.TYPE_MESSAGE:
            return candidate.name
    raise ValueError(f"{response_type.DESCRIPTOR.full_name} has no repeated message field to page through")


class _Pages:
    """What a pager of either kind remembers: the request to repeat and the page tokens seen."""

    def __init__(self, method: Any, request: Message, items: str | None, call_options: dict[str, Any]) -> None:
        self._method = method
        self._request = request
        self._items = items
        self._call_options = call_options

    def _items_of(self, response: Message) -> Any:
        if self._items is None:
            self._items = items_field(type(response))
        return getattr(response, self._items)

    def _requests(self) -> Generator[Message, Any, None]:
        """The request of each page; `send` the response of the previous one to get the next."""
        request = type(self._request)()
        request.CopyFrom(self._request)
        seen: set[str] = set()
        while True:
            response = yield request
            token = response.next_page_token
            if not token:
                return
            if token in seen:
                raise PageTokenLoop(f"the server returned the page token {token!r} twice; stopping")
            seen.add(token)
            request.page_token = token  # type: ignore[attr-defined]


class Pager(_Pages, Generic[Item]):
    """The items of every page of a sync List/Search call."""

    def pages(self) -> Iterator[Any]:
        requests = self._requests()
        request = next(requests)
        while True:
            response = self._method(request, **self._call_options)
            yield response
            try:
                request = requests.send(response)
            except StopIteration:
                return

    def __iter__(self) -> Iterator[Item]:
        for page in self.pages():
            yield from self._items_of(page)


class AsyncPager(_Pages, Generic[Item]):
    """The items of every page of an asyncio List/Search call."""

    async def pages(self) -> AsyncIterator[Any]:
        requests = self._requests()
        request = next(requests)
        while True:
            response = await self._method(request, **self._call_options)
            yield response
            try:
                request = requests.send(response)
            except StopIteration:
                return

    async def __aiter__(self) -> AsyncIterator[Item]:
        async for page in self.pages():
            for item in self._items_of(page):
                yield item
