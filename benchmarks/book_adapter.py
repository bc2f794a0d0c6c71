"""exsim's order book behind the protocol of ../shared/bench (``make_book()``).

The protocol's ``limit(oid, side, price, qty)``, ``market(oid, side, qty)`` and
``cancel(oid)`` are :class:`exsim.core.book.OrderBook`'s own methods called with
their defaults: one anonymous account, self-trade prevention off, no price band
(the reference matcher has none of these).  Fills come back as the book makes
them, ``(maker_oid, taker_oid, price, qty, maker_acct)``: the first four fields
are the protocol's tuple, the harnesses ignore the fifth.  ``cancel`` returns
the removed order (truthy) or ``None``.  Use it as ``--impl book_adapter:make_book``
with this directory on ``sys.path``.
"""

from __future__ import annotations

from exsim.core.book import OrderBook


def make_book() -> OrderBook:
    return OrderBook()
