"""The documentation cannot rot: its examples run, its reference is complete.

Examples: every fenced block opened with exactly ```` ```python ```` in the
pages of ``RUN_PAGES`` is run, each in a fresh namespace, in this test
process (so the leak guards of conftest.py apply to it). A block must be
self-contained and quick; it checks its claims with ``assert``. To show a
block without running it, put ``<!-- norun -->`` on the line before its
opening fence (a Jupyter cell with a top-level ``await``, a remote command
needing hosts), or open it with anything else than a bare ``python`` info
string (```` ```pycon ````, ```` ```python title="..." ````).

Reference: every name of ``procession.__all__`` has a ``::: procession.NAME``
entry under ``docs/reference/`` (``make docs`` renders them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import procession

DOCS = Path(__file__).resolve().parents[1] / "docs"
RUN_PAGES = [
    "index.md",
    "guide/processes.md",
    "guide/reports.md",
    "engine.md",
    "serial.md",
    "slurm.md",
]
NORUN = "<!-- norun -->"
_FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


def code_blocks(text: str) -> list[tuple[int, str, str, bool]]:
    """``(line, info, code, norun)`` of each top-level fenced block (pure)."""
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        fence, indent, start = m["fence"], len(m["indent"]), i
        previous = next((x.strip() for x in reversed(lines[:i]) if x.strip()), "")
        body = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:])
            i += 1
        blocks.append((start + 1, m["info"].strip(), "\n".join(body) + "\n", previous == NORUN))
        i += 1
    return blocks


def test_extractor_finds_blocks_and_marks() -> None:
    text = (
        "x\n```python\na = 1\n```\n<!-- norun -->\n```python\nawait b\n```\n```pycon\n>>> 1\n```\n"
    )
    assert code_blocks(text) == [
        (2, "python", "a = 1\n", False),
        (6, "python", "await b\n", True),
        (9, "pycon", ">>> 1\n", False),
    ]


def runnable(page: str) -> list[tuple[str, str]]:
    text = (DOCS / page).read_text()
    return [
        (f"{page}:{line}", code)
        for line, info, code, norun in code_blocks(text)
        if info == "python" and not norun
    ]


EXAMPLES = [example for page in RUN_PAGES for example in runnable(page)]


@pytest.mark.parametrize(("where", "code"), EXAMPLES, ids=[w for w, _ in EXAMPLES])
def test_example_runs(where: str, code: str) -> None:
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


def test_every_page_has_examples() -> None:
    for page in RUN_PAGES:
        assert runnable(page), f"no runnable example found in {page}"


def test_reference_covers_every_public_name() -> None:
    text = "\n".join(p.read_text() for p in sorted((DOCS / "reference").glob("*.md")))
    documented = set(re.findall(r"^::: procession\.(\w+)\s*$", text, re.MULTILINE))
    missing = sorted(set(procession.__all__) - documented)
    assert not missing, (
        f"public names without an API reference entry: {missing}; add "
        "'::: procession.NAME' to the right page of docs/reference/"
    )
