"""Print the test run's failures as the very last lines of `make test`.

pytest's own summary is followed by whatever prints at interpreter exit (its clean-up of
old temporary directories warns there), and a CI log is often read from its tail: this
puts the failed tests, each with the first lines of its reason, where a reader looks.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

MESSAGE_LINES = 8  # of the assertion's or exception's message
TAIL_LINES = 15  # of the traceback, where the failing line is


def main(report: Path) -> int:
    if not report.exists():
        print(f"test summary: no report at {report} (pytest did not get to write it)")
        return 0
    root = ElementTree.parse(report).getroot()
    failed: list[tuple[str, list[str]]] = []
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in root.iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for case in root.iter("testcase"):
        for kind in ("failure", "error"):
            for element in case.findall(kind):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                message = (element.get("message") or "").strip().splitlines()[:MESSAGE_LINES]
                tail = (element.text or "").strip().splitlines()[-TAIL_LINES:]
                failed.append((f"{kind.upper()} {name}", [*message, "--- traceback's end:", *tail]))
    print("=" * 30 + " test summary " + "=" * 30)
    print(
        f"{totals['tests']} tests: {totals['failures']} failed, {totals['errors']} errors, "
        f"{totals['skipped']} skipped"
    )
    for title, lines in failed:
        print(title)
        for line in lines:
            print(f"    {line[:1000]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".test-report.xml")))
