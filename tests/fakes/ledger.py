"""A fake of :class:`pinsync.sync.ports.MembershipLedger`: the entries in a dict, with the adapter's semantics."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pinsync.sync.ledger import LedgerEntry, LedgerKey


class InMemoryLedger:
    def __init__(self) -> None:
        self.by_key: dict[LedgerKey, LedgerEntry] = {}

    def entries(self, keys: Iterable[LedgerKey]) -> dict[LedgerKey, LedgerEntry]:
        return {key: self.by_key[key] for key in keys if key in self.by_key}

    def held_by_profiles(self, profiles: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
        wanted = set(profiles)
        held: dict[tuple[str, str], list[str]] = {}
        for entry in self.by_key.values():
            if entry.member and entry.profile_key is not None and (entry.audience_id, entry.profile_key) in wanted:
                held.setdefault((entry.audience_id, entry.profile_key), []).append(entry.record)
        return held

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        for entry in entries:
            self.by_key[entry.key] = entry
