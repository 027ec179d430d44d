"""A fake of :class:`pinsync.sync.ports.MembershipLedger`: one audience's items in a dict, like the adapter's."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pinsync.sync.ledger import LedgerItem, members


class InMemoryLedger:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], LedgerItem] = {}
        self.reads = self.writes = 0

    def read(self, audience_id: str, keys: Collection[str]) -> dict[str, LedgerItem]:
        self.reads += 1
        return {key: self.items[(audience_id, key)] for key in keys if (audience_id, key) in self.items}

    def write(self, audience_id: str, items: Sequence[LedgerItem]) -> None:
        self.writes += 1
        for item in items:
            self.items[(audience_id, item.key)] = item

    def members(self, audience_id: str) -> set[str]:
        return members(item for (audience, _), item in self.items.items() if audience == audience_id)
