"""The membership ledger: what pinsync last decided for each identifier of an audience, kept per profile.

Standard SQS queues and retries reorder and repeat deliveries, several invocations run at once, and peers show that
removals only work when every identifier ever sent for a profile is removed. The truth pinsync keeps Pinterest equal
to is, per audience and identifier (a *record*, the hash sent to Pinterest), the latest event by
``lastQualificationTime`` that concerns it, an exit of a profile concerning every record that profile ever added.

The ledger holds, per audience, one item per *profile* (its key: the hashed ECID, say) with an *entry* per record
whose last change came through the profile: in or out, the event's time, and whether Pinterest may not hold it
(``uncertain``: a request that failed ambiguously, a timeout or a 5xx that may hide an applied change). It also holds
the records the profile ever added (its *links*, what its exits remove) and the time of its last exit. A record's state is its latest entry across the profiles that hold one for it; to find them,
each record has an *index* item listing its *owners*, written before the first change a new owner sends for it. A
change without a profile key belongs to the record's own single-record profile (the same item as its index).

Why per profile: an event of a profile (an add, a re-qualification, an exit removing ten identifiers) is one item
write, not one per identifier; a record is written on its own only the first time a profile sends it. A profile that
holds more than :data:`MAX_LINKS` records is a value many people share (a family's email used as a key): it is marked
``shared``, its exits no longer expand, and its new records go to their single-record profiles.

:func:`plan_changes` decides one audience's changes of one batch:

1. an exit of a profile becomes a REMOVE, at the exit's time, of every record the profile holds (stored, or added in
   the same batch); an ADD older than the profile's stored exit becomes a REMOVE at that exit's time (its message was
   late: the exit covers it, even for a record the exit did not know) unless the record's state is as new as the exit
   (then the ADD is stale, step 3);
2. per record, the latest change wins (arrival order breaks ties): duplicates and superseded changes are folded;
3. a change older than the record's state is ``stale``; one that would leave it as it is (an ADD for a record in, a
   REMOVE for one out, the state not uncertain) is ``unchanged`` and only its newer time is recorded; everything else
   is applied. A REMOVE for a record the ledger does not know is applied: absence cannot be proven.

An *erasure* (a privacy request to forget a record as of a time T) is, per audience, a REMOVE of the record at T and
an exit at T of every profile the ledger links to it (:func:`erasure_exits`); once Pinterest accepted them, the
ledger forgets the person (:func:`tombstones`): the profiles' links and entries go, and what is left is, per record,
"out at T" (and the profile's exit time), so that an older add redelivered later is stale or becomes a REMOVE. Those
items carry no owner and no member, so DynamoDB's TTL deletes them after the retention.

The sync use case runs this under the audience's writer lease (one invocation at a time decides and sends for an
audience) and writes an entry only after Pinterest accepted its change (:class:`PendingWrites`). Only hashes are
stored. Pure functions; the storage is the ``MembershipLedger`` port, on DynamoDB in
``pinsync.adapters.dynamo_ledger``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from pinsync.sync.membership import Change, Operation, coalesce

# Records one profile may hold before its key is treated as shared by many people (see the module docstring). A
# person has a handful of emails and devices; a key holding dozens is a shared value, not a person.
MAX_LINKS = 32


@dataclass(frozen=True, slots=True)
class Entry:
    """A profile's last decision for one record."""

    member: bool
    qualified_at: datetime
    uncertain: bool = False  # Pinterest may not hold this state: never skip a change as unchanged against it


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """What the ledger holds under one key of an audience: a profile (its entries), a record's index (its owners),
    or both (a single-record profile, or a profile keyed by the hash of one of its own records)."""

    key: str
    entries: Mapping[str, Entry] = field(default_factory=dict)
    links: frozenset[str] = frozenset()  # the records the profile ever added
    exited_at: datetime | None = None
    shared: bool = False
    owners: frozenset[str] = frozenset()


@dataclass
class LedgerPlan:
    """One audience's changes, decided."""

    apply: list[Change] = field(default_factory=list)
    stale: list[Change] = field(default_factory=list)
    unchanged: list[Change] = field(default_factory=list)
    folded: int = 0
    # where each decided record's entry goes (its profile, or the record itself), and the entries recorded without a
    # call (unchanged changes newer than the state)
    homes: dict[str, str] = field(default_factory=dict)
    refreshed: dict[str, Entry] = field(default_factory=dict)
    exits: dict[str, datetime] = field(default_factory=dict)  # profile key → its newest exit time
    links: dict[str, frozenset[str]] = field(default_factory=dict)  # profile key → its links, where they grew
    newly_shared: set[str] = field(default_factory=set)


def state_of(record: str, items: Mapping[str, LedgerItem]) -> Entry | None:
    """A record's state: its latest entry across the profiles read (an uncertain entry wins a tie)."""
    latest: Entry | None = None
    for key in _holders(record, items):
        entry = items[key].entries[record]
        if latest is None or (entry.qualified_at, entry.uncertain) > (latest.qualified_at, latest.uncertain):
            latest = entry
    return latest


def keys_to_read(changes: Iterable[Change], items: Mapping[str, LedgerItem]) -> set[str]:
    """The keys still to read before :func:`plan_changes` can decide: the records and profiles the changes touch,
    the records an exit will remove, and the owners of all those records. Call until it returns nothing: each read
    can reveal more (an index names its owners, a profile its records)."""
    wanted: set[str] = set()
    records: set[str] = set()
    for change in changes:
        records.add(change.record)
        if change.profile_key is not None:
            wanted.add(change.profile_key)
            if change.operation is Operation.REMOVE:
                profile = items.get(change.profile_key)
                if profile is not None and not profile.shared:
                    records.update(profile.links)
    wanted |= records
    for record in records:
        index = items.get(record)
        if index is not None:
            wanted |= index.owners
    return {key for key in wanted if key not in items}


def plan_changes(
    changes: Sequence[Change], items: Mapping[str, LedgerItem], *, max_links: int = MAX_LINKS
) -> LedgerPlan:
    """Decide one audience's changes against the ledger (see the module docstring). ``items`` must hold what
    :func:`keys_to_read` asked for (the keys the ledger does not know are simply absent)."""
    plan = LedgerPlan()
    newest: dict[str, datetime] = {}
    by_profile: dict[str, list[Change]] = defaultdict(list)
    expanded: list[Change] = []
    for change in changes:
        if newest.get(change.record, change.qualified_at) <= change.qualified_at:
            newest[change.record] = change.qualified_at
        if change.profile_key is not None:
            by_profile[change.profile_key].append(change)
            stored = items.get(change.profile_key)
            if (
                change.operation is Operation.ADD
                and stored is not None
                and not stored.shared
                and stored.exited_at is not None
                and change.qualified_at < stored.exited_at
                and not _as_new_as(state_of(change.record, items), stored.exited_at)
            ):  # 1. an ADD from before the profile's stored exit: that exit covers it
                change = change._replace(operation=Operation.REMOVE, qualified_at=stored.exited_at)
        expanded.append(change)
    shared = {key for key, item in items.items() if item.shared}
    for profile_key, own in by_profile.items():
        stored = items.get(profile_key) or LedgerItem(profile_key)
        exits = sorted((c for c in own if c.operation is Operation.REMOVE), key=lambda c: c.qualified_at)
        if exits and (stored.exited_at is None or exits[-1].qualified_at > stored.exited_at):
            plan.exits[profile_key] = exits[-1].qualified_at
        if stored.shared:
            continue
        held = stored.links | {c.record for c in own if c.operation is Operation.ADD}
        if len(held) > max_links:  # a shared value, not a person: no more expansion, new records on their own
            shared.add(profile_key)
            plan.newly_shared.add(profile_key)
            continue
        if held != stored.links:
            plan.links[profile_key] = frozenset(held)
        for exit_ in reversed(exits):  # 1. an exit removes every record the profile ever added; the latest first
            for record in sorted(held):
                if record in newest and newest[record] >= exit_.qualified_at:
                    continue  # the batch already has a change for it at least as new
                newest[record] = exit_.qualified_at
                expanded.append(exit_._replace(record=record))
    coalesced = coalesce(expanded)  # 2. the latest change per record
    plan.folded = coalesced.folded
    for change in coalesced.changes:  # 3. against the record's state
        state = state_of(change.record, items)
        plan.homes[change.record] = _home(change, items, shared)
        wants_in = change.operation is Operation.ADD
        if state is None:
            plan.apply.append(change)
        elif change.qualified_at < state.qualified_at:
            plan.stale.append(change)
        elif state.member == wants_in and not state.uncertain:
            plan.unchanged.append(change)
            if change.qualified_at > state.qualified_at:
                plan.refreshed[change.record] = Entry(state.member, change.qualified_at)
        else:
            plan.apply.append(change)
    return plan


def linking_profiles(record: str, items: Mapping[str, LedgerItem]) -> list[str]:
    """The profiles the ledger links to ``record``: the owners its index names whose item (read) links it. Every
    profile that added a record is among its owners (:meth:`PendingWrites.owners`); a shared profile links nothing."""
    index = items.get(record)
    owners = index.owners if index is not None else ()
    return sorted(owner for owner in owners if owner in items and record in items[owner].links)


def erasure_exits(removals: Iterable[Change], items: Mapping[str, LedgerItem]) -> list[Change]:
    """The exits an erasure's ``removals`` (profile-less REMOVEs of the records to forget) imply: one per profile the
    ledger links to each record, at the erasure's time (the record itself among them when it keys a profile).
    ``items`` must hold the records' index items and their owners; :func:`keys_to_read` then asks for the rest."""
    return [
        removal._replace(profile_key=profile)
        for removal in removals
        for profile in linking_profiles(removal.record, items)
    ]


def erasure_scope(records: Iterable[str], items: Mapping[str, LedgerItem]) -> set[str]:
    """The records an erasure of ``records`` removes from an audience: them, and every record of every profile the
    ledger links to them (``pinsync forget --dry-run``; the sync use case gets the same from :func:`plan_changes`
    over :func:`erasure_exits`). ``items`` must hold the records' index items and their owners' items."""
    scope = set(records)
    for record in records:
        for profile in linking_profiles(record, items):
            scope |= items[profile].links
    return scope


def tombstones(erased: Mapping[str, datetime], items: Mapping[str, LedgerItem]) -> list[LedgerItem]:
    """The items that make the ledger forget an erasure once Pinterest accepted its changes (see the module
    docstring). ``erased`` maps each record to forget to the erasure's time; ``items`` is the audience's ledger as
    now written (every item :func:`erasure_exits` and :func:`keys_to_read` asked for).

    A profile that qualified again after the erasure (an entry or exit of its own newer than it), or whose own entry
    still makes a record a member, is live: it is kept. So is the state of a record that is newer than the erasure
    or still in; an index drops only the profiles forgotten. Other profiles linking a forgotten record keep their
    own items, and the record's index still names them."""
    profiles: dict[str, datetime] = {}
    for record, at in erased.items():
        for key in linking_profiles(record, items):
            profiles[key] = max(profiles.get(key, at), at)
    gone = {key: at for key, at in profiles.items() if not _live(items[key], at, items)}
    forgotten = dict(erased)
    for key, at in gone.items():
        profile = items[key]
        for record in profile.links | profile.entries.keys():
            forgotten[record] = max(forgotten.get(record, at), at)
    written: dict[str, LedgerItem] = {}
    for record, at in forgotten.items():
        item = items.get(record) or LedgerItem(record)
        owners = item.owners - gone.keys() - {record}  # the record's own item is always read: no need to name it
        state = state_of(record, items)
        if state is None or not (state.qualified_at > at or state.member or state.uncertain):
            written[record] = LedgerItem(record, entries={record: Entry(False, at)}, owners=owners)
        elif owners != item.owners:  # kept: newer than the erasure, or still in through someone else
            written[record] = replace(item, owners=owners)
    for key, at in gone.items():
        kept = written.get(key) or LedgerItem(key, owners=items[key].owners - gone.keys())
        written[key] = replace(kept, exited_at=max(at, items[key].exited_at or at))
    return list(written.values())


def _live(profile: LedgerItem, at: datetime, items: Mapping[str, LedgerItem]) -> bool:
    """Whether a profile is still in use after an erasure at ``at`` (see :func:`tombstones`)."""
    if profile.exited_at is not None and profile.exited_at > at:
        return True
    for record, entry in profile.entries.items():
        if entry.qualified_at > at:
            return True
        if (entry.member or entry.uncertain) and state_of(record, items) == entry:
            return True
    return False


def mirror(desired: Iterable[str], held: Iterable[str]) -> tuple[set[str], set[str]]:
    """Reconcile: (records to add, records to remove) to make the audience equal ``desired``."""
    wanted, current = set(desired), set(held)
    return wanted - current, current - wanted


def members(items: Iterable[LedgerItem]) -> set[str]:
    """The records in the audience according to all of its ledger items (``pinsync reconcile``)."""
    latest: dict[str, Entry] = {}
    for item in items:
        for record, entry in item.entries.items():
            known = latest.get(record)
            if known is None or (entry.qualified_at, entry.uncertain) > (known.qualified_at, known.uncertain):
                latest[record] = entry
    return {record for record, entry in latest.items() if entry.member}


def _holders(record: str, items: Mapping[str, LedgerItem]) -> list[str]:
    """Keys of the read items holding an entry for ``record``: the owners its index names (every profile that may
    hold one: owners are written before the entries), and the record's own single-record profile."""
    index = items.get(record)
    candidates = {record, *index.owners} if index is not None else {record}
    return [key for key in candidates if key in items and record in items[key].entries]


def _as_new_as(state: Entry | None, moment: datetime) -> bool:
    return state is not None and state.qualified_at >= moment


def _home(change: Change, items: Mapping[str, LedgerItem], shared: set[str]) -> str:
    """Where the change's entry is recorded: its profile, unless it has none or a shared one holding no entry for it
    (then the record's own single-record profile)."""
    key = change.profile_key
    if key is None:
        return change.record
    if key in shared:
        profile = items.get(key)
        return key if profile is not None and change.record in profile.entries else change.record
    return key


class PendingWrites:
    """The ledger items one audience's sync still has to write. Each key is written whole, with everything decided
    for it so far (a key can be a profile and an index at once). Entries are collected in plain dicts and the items
    built when taken: this runs once per applied change."""

    def __init__(self, items: Mapping[str, LedgerItem] | None = None, plan: LedgerPlan | None = None) -> None:
        self._items = dict(items or {})
        self._plan = plan or LedgerPlan()
        self._entries: dict[str, dict[str, Entry]] = {}  # key → its entries, once one changed
        self._dirty: set[str] = set()
        for record, entry in self._plan.refreshed.items():
            self._set_entry(self._plan.homes[record], record, entry)
        for profile_key, exited_at in self._plan.exits.items():
            self._update(profile_key, exited_at=exited_at)
        self._new_links: list[tuple[str, str]] = []  # (record, profile) the profile links from this run on
        for profile_key, links in self._plan.links.items():
            stored = self._items.get(profile_key)
            self._new_links.extend(
                (record, profile_key) for record in links - (stored.links if stored else frozenset())
            )
            self._update(profile_key, links=links)
        for profile_key in self._plan.newly_shared:
            self._update(profile_key, shared=True, links=frozenset())

    def owners(self, changes: Iterable[Change]) -> list[LedgerItem]:
        """Index items to write *before* sending ``changes``: each record's index must name every profile that may
        hold an entry for it, or a later change from another profile would not see that entry, and every profile
        that links it (a stale add links too), or an erasure of the record would not find that profile. An owner
        without an entry (the send failed) costs nothing but a read."""
        taken: dict[str, LedgerItem] = {}
        homes = self._plan.homes
        wanted = [(change.record, homes.get(change.record, change.record)) for change in changes]
        wanted += self._new_links  # every profile linking a record is an owner too: an erasure finds it there
        self._new_links = []
        for record, home in wanted:
            index = self._items.get(record)
            if index is None or home not in index.owners:
                self._update(record, owners=(index.owners if index is not None else frozenset()) | {home})
                self._dirty.discard(record)
                taken[record] = self._item(record)
        return list(taken.values())

    def applied(self, changes: Iterable[Change]) -> list[LedgerItem]:
        """The items to write now that Pinterest accepted ``changes``."""
        homes = self._plan.homes
        keys = []
        for change in changes:
            home = homes.get(change.record, change.record)
            self._set_entry(home, change.record, Entry(change.operation is Operation.ADD, change.qualified_at))
            keys.append(home)
        return self._take(keys)

    def uncertain(self, changes: Iterable[Change]) -> list[LedgerItem]:
        """The items to write after a request carrying ``changes`` failed ambiguously (Pinterest may have applied it):
        the record's state is kept but no longer trusted to skip a change. A record the ledger does not know needs
        nothing: unknown already means every change is sent."""
        keys = []
        for change in changes:
            index = self._items.get(change.record)
            candidates = {change.record, *(index.owners if index is not None else ())}
            state = state_of(change.record, {key: self._item(key) for key in candidates if key in self._items})
            if state is not None and not state.uncertain:
                home = self._plan.homes.get(change.record, change.record)
                self._set_entry(home, change.record, replace(state, uncertain=True))
                keys.append(home)
        return self._take(keys)

    def forget(self, erased: Mapping[str, datetime]) -> list[LedgerItem]:
        """The items to write once an erasure's changes were all accepted: :func:`tombstones` of what is written."""
        forgotten = tombstones(erased, {key: self._item(key) for key in self._items})
        for item in forgotten:
            self._items[item.key] = item
            self._entries.pop(item.key, None)
            self._dirty.discard(item.key)
        return forgotten

    def rest(self) -> list[LedgerItem]:
        """Everything not written yet: newer times of unchanged records, links, exits, shared marks."""
        return self._take(sorted(self._dirty))

    def _item(self, key: str) -> LedgerItem:
        item = self._items.get(key) or LedgerItem(key)
        entries = self._entries.get(key)
        if entries is None:
            return item
        return LedgerItem(key, dict(entries), item.links, item.exited_at, item.shared, item.owners)

    def _set_entry(self, key: str, record: str, entry: Entry) -> None:
        entries = self._entries.get(key)
        if entries is None:
            item = self._items.get(key)
            entries = self._entries[key] = dict(item.entries) if item is not None else {}
            if item is None:
                self._items[key] = LedgerItem(key)
        entries[record] = entry
        self._dirty.add(key)

    def _update(self, key: str, **values: object) -> None:
        self._items[key] = replace(self._items.get(key) or LedgerItem(key), **values)  # type: ignore[arg-type]
        self._dirty.add(key)

    def _take(self, keys: Iterable[str]) -> list[LedgerItem]:
        taken: dict[str, LedgerItem] = {}
        for key in keys:
            if key in self._dirty:
                self._dirty.discard(key)
                taken[key] = self._item(key)
        return list(taken.values())
