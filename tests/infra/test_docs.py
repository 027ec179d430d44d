"""The documentation says what the code does: every reason the code can report is in docs/reasons.md, and no file
points at documents a reader of the repository cannot see."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from pinsync.events import (
    PINTEREST_EXCLUSION_PREFIX,
    ExclusionReason,
    FailureReason,
    RejectionReason,
    RotationFailure,
    SkipReason,
)

ROOT = Path(__file__).resolve().parents[2]


def test_every_reason_is_in_the_reason_table() -> None:
    table = (ROOT / "docs" / "reasons.md").read_text()
    reasons = [*RejectionReason, *ExclusionReason, *SkipReason, *FailureReason, *RotationFailure]
    missing = [reason.value for reason in reasons if f"| `{reason.value}` |" not in table]
    assert missing == []
    assert f"`{PINTEREST_EXCLUSION_PREFIX}<code>`" in table


def test_every_alarm_is_in_the_operations_alarm_table() -> None:
    from pinsync.alerts.alarms import ALARM_PURPOSES, DIRECT_ALARM_PURPOSES

    text = (ROOT / "docs" / "operations.md").read_text()
    table = text.split("## Alarms", 1)[1].split("\n## ", 1)[0]
    first_cells = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    listed = [name for cell in first_cells for name in re.findall(r"`([a-z-]+)`", cell)]
    assert sorted(listed) == sorted(set(ALARM_PURPOSES) | DIRECT_ALARM_PURPOSES)


def heading_anchors(document: Path) -> set[str]:
    """GitHub's anchors of a document's headings: lowercased, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", document.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


DOCUMENTS = [
    ROOT / "README.md",
    ROOT / "BENCHMARKS.md",
    *(ROOT / "docs").glob("*.md"),
    ROOT / "events" / "README.md",
    ROOT / "tools" / "pinterest_emulator" / "README.md",
]


def test_links_between_documents_resolve() -> None:
    """To a file that exists and, after a #, to one of its headings."""
    for document in DOCUMENTS:
        text = document.read_text()
        for target in [part.split(")")[0] for part in text.split("](")[1:]]:
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            linked = document.parent / path if path else document
            assert linked.exists(), f"{document.name} links to missing {target}"
            assert not anchor or anchor in heading_anchors(linked), f"{document.name} links to missing {target}"


def names_something_that_exists(path: str) -> bool:
    """A path, or a test's node id (`tests/x.py::test_y`): the file, and the test in it."""
    path, _, test = path.partition("::")
    return (ROOT / path).exists() and (not test or f"def {test}(" in (ROOT / path).read_text())


def test_paths_the_documents_name_exist() -> None:
    """A path of the repository written as code (`events/aep/`) must exist, like a link's target."""
    pattern = re.compile(r"`((?:bench|docs|events|functions|layers|scripts|tests|tools)/[^`\s<>*]*)`")
    missing = [
        f"{document.name}: {path}"
        for document in DOCUMENTS
        for path in pattern.findall(document.read_text())
        if not names_something_that_exists(path)
    ]
    assert missing == []


# The paths of the notes the project was written from, outside the repository; put together here so that this file
# does not hold them and needs no exception from its own check.
OUTSIDE_MARKERS = (".." + "/shared/", "shared" + "/notes/")


def test_nothing_points_outside_the_repository() -> None:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()  # noqa: S607
    offenders = [
        name
        for name in files
        if not name.endswith((".json", ".lock"))
        and (ROOT / name).is_file()
        and any(marker in (ROOT / name).read_text(errors="ignore") for marker in OUTSIDE_MARKERS)
    ]
    assert offenders == []


def section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_each_reason_table_is_its_enum() -> None:
    """Both ways: a reason dropped from the code must leave the table too, and under its own heading."""
    table = (ROOT / "docs" / "reasons.md").read_text()
    sections = {
        "Messages rejected (`messages.rejected_by_reason`)": {*RejectionReason},
        "Identities excluded (`identities.excluded_by_reason`)": {
            *ExclusionReason,
            f"{PINTEREST_EXCLUSION_PREFIX}<code>",
        },
        "Changes skipped (`identities.skipped_by_reason`)": {*SkipReason},
        "Changes failed (`identities.failed_by_reason`)": {*FailureReason},
        "Token rotation failures (`Token Rotation` event, `reason`)": {*RotationFailure},
    }
    for title, reasons in sections.items():
        listed = re.findall(r"^\| `([a-z_<>]+)` \|", section(table, title), flags=re.MULTILINE)
        assert sorted(listed) == sorted(str(reason) for reason in reasons), title


def test_the_alarm_table_gives_each_alarms_alert_and_severity() -> None:
    from pinsync.alerts.alarms import ALARM_PURPOSES

    table = section((ROOT / "docs" / "operations.md").read_text(), "Alarms")
    documented = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            purposes, _, alert = (cell.strip() for cell in line.split("|")[1:4])
            for purpose in re.findall(r"`([a-z-]+)`", purposes):
                documented[purpose] = alert
    expected = {purpose: f"`{alert}` ({severity})" for purpose, (alert, severity) in ALARM_PURPOSES.items()}
    assert {purpose: documented[purpose] for purpose in expected} == expected


def test_the_make_targets_the_documents_name_exist() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    documents = [
        ROOT / "README.md",
        ROOT / "BENCHMARKS.md",
        *(ROOT / "docs").glob("*.md"),
        ROOT / "events" / "README.md",
    ]
    named = {target for document in documents for target in re.findall(r"`make ([a-z-]+)", document.read_text())}
    assert named - targets == set()


def test_the_retry_table_is_what_the_schedule_computes(sam_template: dict[str, Any]) -> None:
    """operations.md's table of RetryHorizonHours → MaxReceiveCount, from the sync function's default backoff and
    the audience queue's visibility timeout."""
    from pinsync.sync.retry_schedule import RetrySchedule
    from pinsync.sync.settings import SyncSettings

    fields = SyncSettings.model_fields
    schedule = RetrySchedule(int(fields["retry_base_seconds"].default), int(fields["retry_cap_seconds"].default))
    visibility = int(sam_template["Resources"]["AudienceQueue"]["Properties"]["VisibilityTimeout"])
    text = section((ROOT / "docs" / "operations.md").read_text(), "Retries and the dead-letter queue")
    rows = re.findall(r"^\| (\d+)[^|]* \| (\d+)[^|]* \| ([\d.]+) h \| ([\d.]+) h \|$", text, flags=re.MULTILINE)
    assert len(rows) == 6
    for horizon, receives, guaranteed, latest in rows:
        needed = schedule.receives_needed(int(horizon) * 3600)
        assert (int(receives), float(guaranteed), float(latest)) == (
            needed,
            round(schedule.guaranteed_span(needed) / 3600, 1),
            round(schedule.longest_time_to_dead_letter(needed, visibility) / 3600, 1),
        ), horizon


def cli_options() -> dict[tuple[str, ...], set[str]]:
    """Each command and subcommand of `pinsync` → its option strings."""
    import argparse

    from pinsync_cli.main import build_parser

    found: dict[tuple[str, ...], set[str]] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        found[path] = {option for action in parser._actions for option in action.option_strings}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*path, name))

    walk(build_parser(), ())
    return found


def test_the_command_table_is_the_command_line() -> None:
    """Each row of operations.md's command table names a command that exists, with flags that command has; every
    command has a row."""
    options = cli_options()
    table = (ROOT / "docs" / "operations.md").read_text().split("| command | what it does |", 1)[1].split("\n\n")[0]
    documented = set()
    for synopsis in re.findall(r"`(pinsync [^`]+)`", table):
        words = synopsis.replace("[", " ").replace("]", " ").split()[1:]
        path: tuple[str, ...] = ()
        while words and (*path, words[0]) in options:
            path, words = (*path, words[0]), words[1:]
        documented.add(path)
        unknown = set(re.findall(r"--[a-z][a-z0-9-]*", synopsis)) - options[path]
        assert unknown == set(), synopsis
    commands = {
        path for path in options if path and not any(other[: len(path)] == path and other != path for other in options)
    }
    assert commands - documented == set()


def test_the_deployment_values_are_documented_with_their_flags_outputs_parameters_and_variables(
    sam_template: dict[str, Any],
) -> None:
    from pinsync_cli.stack import LOG_GROUP_RESOURCE, VALUES

    text = (ROOT / "docs" / "operations.md").read_text()
    deployed = text.split("- **deployed:**", 1)[1].split("\n- **", 1)[0]
    outputs = set(re.findall(r"`(\w+)`", deployed.split("outputs (", 1)[1].split(")", 1)[0]))
    parameters = set(re.findall(r"`(\w+)`", deployed.split("parameters (", 1)[1].split(")", 1)[0]))
    assert outputs == {value.output for value in VALUES.values() if value.output}
    assert parameters == {value.parameter for value in VALUES.values() if value.parameter}
    assert outputs <= set(sam_template["Outputs"])
    assert parameters <= set(sam_template["Parameters"])
    assert f"`{LOG_GROUP_RESOURCE}`" in deployed and LOG_GROUP_RESOURCE in sam_template["Resources"]
    explicit = " ".join(text.split("- **explicit:**", 1)[1].split("\n- **", 1)[0].split())
    missing = [value.flag for value in VALUES.values() if f"`{value.flag}` (`{value.env}`" not in explicit]
    assert missing == []


def test_the_exit_code_table_is_the_command_lines() -> None:
    from pinsync_cli import main, stack

    table = section((ROOT / "docs" / "operations.md").read_text(), "Exit codes")
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, flags=re.MULTILINE)}
    codes = {getattr(stack, name) for name in dir(stack) if name.startswith("EXIT_")} | {main.EXIT_INTERRUPTED}
    assert documented == codes
    in_help = re.findall(r"(?:: |; )(\d+) ", " ".join((main.__doc__ or "").split("Exit codes", 1)[1].split()))
    assert {int(code) for code in in_help} == codes  # `pinsync --help` says the same


def test_the_code_layout_names_every_module_of_the_layer() -> None:
    """design.md's "The code, by function": each package's entry names each of its modules."""
    text = (ROOT / "docs" / "design.md").read_text()
    block = text.split("## The code, by function", 1)[1].split("```", 2)[1]
    entries = re.split(r"\n  (?=\S)", block)  # the layer's top-level entries, indented by two spaces
    package = ROOT / "layers" / "common" / "pinsync"
    missing = [
        f"{module.name}" for module in package.glob("*.py") if module.stem != "__init__" and module.name not in block
    ]
    for directory in sorted(path for path in package.iterdir() if (path / "__init__.py").exists()):
        [entry] = [entry for entry in entries if entry.startswith(f"{directory.name}/")]
        words = set(re.findall(r"[a-z_]+", entry))
        missing += [
            f"{directory.name}/{module.stem}"
            for module in directory.glob("*.py")
            if module.stem not in words | {"__init__"}
        ]
    assert missing == []


def test_the_exclusions_left_out_of_the_excluded_share_are_the_ones_the_table_says() -> None:
    from pinsync.sync.outcome import _NOT_IN_THE_RATE

    table = section((ROOT / "docs" / "reasons.md").read_text(), "Identities excluded (`identities.excluded_by_reason`)")
    said = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `") and "left out of the" in line}
    assert said == {str(reason) for reason in _NOT_IN_THE_RATE}


def test_the_documented_privacy_request_event_has_the_events_fields() -> None:
    from pinsync.events import ErasedIdentities, PrivacyRequest

    text = (ROOT / "docs" / "message-contract.md").read_text()
    sample = " ".join(text.split("`Privacy Request` event reports it: `", 1)[1].split("`", 1)[0].split())
    documented = set(re.findall(r'"(\w+)":', sample))
    assert documented == {*PrivacyRequest.model_fields, *ErasedIdentities.model_fields}
