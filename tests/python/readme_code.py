"""The README's code blocks, for the tests that run them: the docs cannot drift
from the code."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def code_blocks(language: str) -> list[tuple[str, str]]:
    """(the heading above it, its code) for every ```language block, in order."""
    blocks, heading = [], ""
    lines = README.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.strip() == f"```{language}":
            end = lines.index("```", i + 1)
            blocks.append((heading, "\n".join(lines[i + 1 : end])))
            i = end
        i += 1
    return blocks


def heading_matches(heading: str, pattern: str) -> bool:
    return re.search(pattern, heading) is not None
