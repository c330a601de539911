"""Helpers for the infrastructure checks: copies of Terraform trees to break on purpose."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "wired"


class TreeCopy:
    """A copy of a folder with small text edits, each asserting that its anchor exists."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def replace(self, pattern: str, replacement: str, *, after: str | None = None) -> None:
        """Replace the first match of ``pattern`` after the first match of ``after``.

        Exactly one .tf file may have such a match, so an edit never lands somewhere else.
        """
        regex = re.compile(pattern, re.MULTILINE)
        found = []
        for file in sorted(self.path.rglob("*.tf")):
            text = file.read_text()
            anchor = re.search(after, text) if after else None
            if after and anchor is None:
                continue
            match = regex.search(text, anchor.end() if anchor else 0)
            if match:
                found.append((file, text, match))
        assert len(found) == 1, f"{pattern!r} after {after!r} is in {len(found)} files"
        file, text, match = found[0]
        file.write_text(text[: match.start()] + replacement + text[match.end() :])

    def delete_line(self, pattern: str, *, after: str | None = None) -> None:
        """Delete the first whole line matching ``pattern``."""
        self.replace(rf"^[^\n]*{pattern}[^\n]*\n", "", after=after)

    def add_file(self, relative: str, text: str) -> None:
        (self.path / relative).write_text(text)


@pytest.fixture
def wired(tmp_path: Path) -> TreeCopy:
    """A copy of the small, fully wired fixture repository."""
    shutil.copytree(FIXTURE, tmp_path / "wired")
    return TreeCopy(tmp_path / "wired")


@pytest.fixture
def real_terraform(tmp_path: Path) -> TreeCopy:
    """A copy of the repository's terraform/ (without provider caches)."""
    shutil.copytree(
        ROOT / "terraform",
        tmp_path / "terraform",
        ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"),
    )
    return TreeCopy(tmp_path / "terraform")
