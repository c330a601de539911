#!/usr/bin/env python
"""Strip the outputs and execution counts of notebooks, or check that none are left.

    .venv/bin/python scripts/strip_notebooks.py            # strip notebooks/*.ipynb in place
    .venv/bin/python scripts/strip_notebooks.py --check    # exit 1 naming what is left

Notebooks are committed without outputs (``tests/test_notebooks.py`` fails otherwise): the
figures and tables are made again by running them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def outputs_left(notebook: nbformat.NotebookNode) -> list[str]:
    """What a committed notebook must not hold: outputs and execution counts, by cell."""
    found = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {number}: {len(cell.outputs)} outputs")
        if cell.get("execution_count") is not None:
            found.append(f"cell {number}: execution count {cell.execution_count}")
    return found


def strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without outputs and execution counts (changed in place)."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def main(argv: Sequence[str] | None = None) -> int:
    """Strip (or with --check, check) the given notebooks, by default notebooks/*.ipynb."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default notebooks/)")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if any left")
    args = parser.parse_args(argv)
    paths = args.paths or sorted(NOTEBOOKS.glob("*.ipynb"))
    dirty = 0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        left = outputs_left(notebook)
        if not left:
            continue
        if args.check:
            dirty += 1
            print(f"{path}: {'; '.join(left)}")
        else:
            nbformat.write(strip(notebook), path)
            print(f"{path}: stripped")
    return 1 if dirty else 0


if __name__ == "__main__":
    sys.exit(main())
