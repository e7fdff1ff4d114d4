"""Reading every page of a query, several at once: a paginator that knows the count up front.

QuickBooks pages by position (STARTPOSITION, 1-based; MAXRESULTS ≤ 1000), like the offset paginators
of the Singer SDK and dlt: `has_more` after a page, `get_next` for where the next one starts. Each
page waits on QuickBooks for a second or more, so one at a time a large company takes minutes: this
paginator counts (while the first page, read whatever the count, is on its way), then keeps
`in_flight` pages requested while the caller writes the earlier ones, and yields them in order. When
the count fills its last page, the page just past it is requested with the others. Pages beyond —
records created meanwhile — are read one after another until a short page, as a plain paged read
would; what is created after the page past the count was read is the next run's (CDC overlap).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

PAGES_IN_FLIGHT = 10  # QuickBooks serves at most 10 requests of a company at once (the throttle keeps it so)

Page = list[dict]


class PrefetchingPaginator:
    """Every page `read_page(position)` returns, in order; `count()` says how many records there are."""

    def __init__(
        self,
        read_page: Callable[[int], Page],
        count: Callable[[], int],
        *,
        page_size: int,
        in_flight: int = PAGES_IN_FLIGHT,
        thread_name: str = "qbo-page",
    ) -> None:
        self.read_page, self.count, self.page_size = read_page, count, page_size
        self.in_flight, self.thread_name = max(1, in_flight), thread_name

    def has_more(self, page: Page) -> bool:
        """A full page may have a page after it; a short one is the last."""
        return len(page) == self.page_size

    def get_next(self, position: int) -> int:
        return position + self.page_size

    def planned(self, counted: int) -> range:
        """The positions to request at once after the first: every page `counted` records fill, and the
        one just past them (records created since the count)."""
        return range(self.get_next(1), counted + 2, self.page_size)

    def first_unplanned(self, counted: int) -> int:
        return (counted // self.page_size + 1) * self.page_size + 1

    def __iter__(self) -> Iterator[Page]:
        counted, more = yield from self._planned_pages()
        position = self.first_unplanned(counted)
        while more:
            page = self.read_page(position)
            more = self.has_more(page)
            if page:
                yield page
            position = self.get_next(position)

    def _planned_pages(self) -> Iterator[Page]:
        """The first page and the planned ones, `in_flight` requested at a time, in order. Returns (to
        `yield from`) the count and whether the last of them was full."""
        pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix=self.thread_name)
        try:
            requested: deque[Future[Page]] = deque([pool.submit(self.read_page, 1)])
            counted = self.count()
            positions = iter(self.planned(counted))
            requested.extend(pool.submit(self.read_page, p) for p in islice(positions, self.in_flight - 1))
            while requested:
                page = requested.popleft().result()
                requested.extend(pool.submit(self.read_page, p) for p in islice(positions, 1))
                more = self.has_more(page)
                if page:
                    yield page
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # a reader that stops early leaves nothing running
        return counted, more
