"""Fault injection: errors, latency, dropped connections, forced 429s and poison records."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

FaultKind = Literal["error", "latency", "drop", "rate_limit", "lost_answer"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)


@dataclass
class Fault:
    """Applies to the next `count` requests under /v5 that match `method` and `path_contains` (when set).

    - error: answer `status` (5xx) with `{"code": code or status, "message": message}`
    - latency: wait `seconds` before handling the request normally
    - drop: close the socket without writing any response
    - rate_limit: answer 429 code 8 with `X-RateLimit-Reset: reset_seconds`
    - lost_answer: handle the request (it is applied), then answer `status` (5xx) as if the answer were lost on the
      way: the client cannot tell whether its request took effect
    """

    kind: FaultKind
    count: int = 1
    status: int = 503
    code: int | None = None
    message: str = "Service unavailable (injected fault)."
    seconds: float = 0.0
    reset_seconds: int = 1
    method: str | None = None
    path_contains: str | None = None
    id: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.kind in ("error", "lost_answer") and not 500 <= self.status <= 599:
            raise ValueError("status of an error fault must be 5xx")
        if self.seconds < 0:
            raise ValueError("seconds must be >= 0")
        if self.reset_seconds < 1:
            raise ValueError("reset_seconds must be >= 1")
        if self.method is not None:
            self.method = self.method.upper()

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        allowed = {name for name in cls.__dataclass_fields__ if name != "id"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        if data.get("kind") not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {FAULT_KINDS}")
        return cls(**data)


@dataclass
class FaultInjector:
    """Pending faults and poison records. Not thread-safe (used under the state lock)."""

    faults: list[Fault] = field(default_factory=list)
    poison_records: set[str] = field(default_factory=set)
    _next_id: int = 1

    def add(self, fault: Fault) -> Fault:
        fault.id = self._next_id
        self._next_id += 1
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> list[Fault]:
        """Consume one use of the first matching fault of each kind; return what to apply to this request."""
        taken: list[Fault] = []
        kinds_seen: set[str] = set()
        for fault in list(self.faults):
            if fault.kind in kinds_seen or not fault.matches(method, path):
                continue
            kinds_seen.add(fault.kind)
            fault.count -= 1
            if fault.count == 0:
                self.faults.remove(fault)
            taken.append(fault)
        return taken

    def clear(self) -> None:
        self.faults.clear()
        self.poison_records.clear()

    def describe(self) -> dict[str, Any]:
        return {"faults": [f.to_dict() for f in self.faults], "poison_records_count": len(self.poison_records)}
