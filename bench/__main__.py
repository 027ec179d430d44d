"""`make bench`: run every benchmark, print one table, write the raw figures to .local/bench/results.json.

Benchmarks print figures; they are not timed tests and assert nothing. BENCHMARKS.md records the figures and the
machine they came from. Run one alone with ``python -m bench.<name>``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from bench import (
    api_efficiency,
    cold_start,
    end_to_end,
    handler_cost,
    ingest_door,
    ledger_cost,
    memory,
    scale,
    transform,
)

OUT = Path(__file__).resolve().parents[1] / ".local" / "bench" / "results.json"


def machine() -> dict[str, Any]:
    memory_kib = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory_kib = int(meminfo.readline().split()[1])
    except OSError:
        pass
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
    }


def _quietly(function: Any, *args: Any) -> Any:
    """The function's JSON logs and EMF lines go to stdout: keep them out of the table."""
    with open(os.devnull, "w") as sink, redirect_stdout(sink):
        return function(*args)


def rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    table: list[tuple[str, str, str, str]] = []
    t = results["transform"]
    table.append(("1 transform: full path", f"{t['full_identities_per_second']:,} identities/s", "", ""))
    table.append(
        ("1 transform: floor (json.loads + SHA-256)", f"{t['floor_identities_per_second']:,} identities/s", "", "")
    )
    table.append(("1 transform: ratio full / floor", f"{t['ratio']:.2f}x", "<= 2x", _ok(t["meets_target"])))
    table.append(("1 transform: of which parsing alone / floor", f"{t['parse_ratio']:.2f}x", "", ""))
    for r in results["api_efficiency"]["results"]:
        table.append(
            (
                f"2 API calls / minimum: {r['scenario']}",
                f"{r['ratio']:.3f} ({r['calls']}/{r['minimum']})",
                "1.00" if r["scenario"] == "steady state" else "report",
                _ok(r["ratio"] <= 1.0 and r["final_membership_correct"])
                if r["scenario"] == "steady state"
                else ("membership OK" if r["final_membership_correct"] else "MEMBERSHIP WRONG"),
            )
        )
    e = results["end_to_end"]
    table.append(
        (
            f"3 end to end (batch {e['batch_size']}, window {e['batching_window_s']} s)",
            f"{e['identities_per_second']:,} identities/s",
            "",
            "local stack",
        )
    )
    table.append(
        (
            "3 latency send -> Pinterest p50 / p99",
            f"{e['latency_p50_s']} s / {e['latency_p99_s']} s",
            "",
            f"at {e['paced_rate_messages_per_s']:.0f} msg/s",
        )
    )
    for r in results["cold_start"]["results"]:
        table.append(
            (
                f"4 cold start {r['function']}",
                f"{r['handler_import_ms']} ms vs {r['dependencies_alone_ms']} ms deps ({r['overhead_percent']:+}%)",
                "<= +25%",
                _ok(r["meets_target"]),
            )
        )
    for r in results["memory"]["results"]:
        table.append(
            (
                f"5 peak RSS: {r['case']} ({r['batch_mib']} MiB)",
                f"{r['peak_rss_mb']} MB (margin {r['margin']}x of 512)",
                ">= 2x",
                _ok(r["meets_target"]),
            )
        )
    s = results["scale"]
    table.append(
        (
            "6 10M-member initial sync",
            f"{s['minutes_at_rate_limit']} min, {s['pinterest_calls']:,} calls",
            "",
            "on paper",
        )
    )
    table.append(
        (
            "6 concurrency / batch to get there",
            f"{s['maximum_concurrency_needed']} / {s['batch_size']} x {s['profiles_per_message']} profiles",
            "",
            "on paper",
        )
    )
    table.append(("6 Lambda cost", f"{s['gb_seconds']:,} GB-s, {s['cost_usd']} USD", "", "on paper"))
    for case, figures in results["ledger_cost"].items():
        if case == "overall":
            table.append(
                (
                    "7 ledger: all workloads",
                    f"{figures['per_applied']} write units per applied change",
                    "<= 1",
                    _ok(figures["per_applied"] <= 1),
                )
            )
            continue
        per_change = figures["write_units_per_applied_change"]
        table.append(
            (
                f"7 ledger per 10k changes: {case.replace('_', ' ')}",
                f"{figures['dynamodb_calls']} calls, {figures['write_units']} WCU ({figures['applied']} applied)",
                "<= 1 WCU/change",
                "n/a" if per_change is None else f"{per_change} WCU/change",
            )
        )
    h = results["handler_cost"]
    table.append(
        (
            "8 whole sync handler, CPU per identity (AWS SDK in)",
            f"{h['us_per_identity']} us, {h['ratio_to_floor']}x the floor ({h['floor_us_per_identity']} us)",
            "<= 10x",
            _ok(h["ratio_to_floor"] <= 10),
        )
    )
    million = h["per_million_applied_changes"]
    table.append(
        (
            "8 per million applied changes",
            f"{million['lambda_gb_seconds']:,} GB-s, {million['dynamodb_write_units']:,} WCU, "
            f"{million['sqs_requests']:,} SQS requests: {million['usd_total']} USD",
            "report",
            "",
        )
    )
    d = results["ingest_door"]
    table.append(
        (
            f"10 local ingest door: {d['requests']} POSTs from {d['threads']} threads",
            f"{d['requests_per_second']:,} requests/s, p50 {d['latency_p50_ms']} ms / p99 {d['latency_p99_ms']} ms",
            "report",
            "all on the queue" if d["all_accepted"] else "LOST OR REFUSED",
        )
    )
    alone = d["door_alone"]
    table.append(
        (
            "10 local ingest door alone (no SQS call)",
            f"{alone['requests_per_second']:,} requests/s, p50 {alone['latency_p50_ms']} ms / p99 {alone['latency_p99_ms']} ms",
            "report",
            "local stack",
        )
    )
    return table


def _ok(flag: bool) -> str:
    return "meets" if flag else "MISSES"


def main() -> int:
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine()}
    steps = [
        ("transform", transform.run),
        ("api_efficiency", api_efficiency.run),
        ("end_to_end", end_to_end.run),
        ("cold_start", cold_start.run),
        ("memory", memory.run),
        ("ledger_cost", ledger_cost.run),
        ("handler_cost", handler_cost.run),
        ("ingest_door", ingest_door.run),
    ]
    for name, function in steps:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = _quietly(function)
    results["scale"] = scale.run(results)
    results["seconds"] = round(time.monotonic() - started)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    table = rows(results)
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    header = ("benchmark", "figure", "target", "verdict")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    print()
    print(
        f"pinsync benchmarks on {results['machine']['cpus']} CPUs, {results['machine']['memory_gib']} GiB, "
        f"Python {results['machine']['python']} ({results['machine']['platform']}), {results['seconds']} s"
    )
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    if "profile" in results["transform"]:
        print("\ntransform full path, cProfile (tottime):")
        print(results["transform"]["profile"])
    print(f"\nraw figures: {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
