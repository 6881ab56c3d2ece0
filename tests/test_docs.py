"""The docs name the code as it is: every module has its row in docs/architecture.md, and every
module path the docs name exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _modules() -> list[str]:
    """The project's modules under offline/ and webapp/ (git's list: what a clone has)."""
    listed = subprocess.run(
        ["git", "ls-files", "offline/*.py", "webapp/*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # package markers and Alembic's own files (the row names webapp/migrations/) need no row
    return [m for m in listed if not m.endswith("__init__.py") and not m.startswith("webapp/migrations/")]


def test_every_module_has_its_row_in_the_architecture_doc() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    modules = _modules()
    assert len(modules) > 50  # the list really came from git
    missing = [m for m in modules if f"`{m}`" not in text]
    assert missing == [], f"docs/architecture.md has no row for {missing}"


def test_every_module_path_the_docs_name_exists() -> None:
    named = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named |= {
            (doc.name, p)
            for p in re.findall(r"`((?:offline|webapp)/[\w/]+\.py)`", doc.read_text(encoding="utf-8"))
        }
    assert len(named) > 50
    gone = sorted((doc, p) for doc, p in named if not (ROOT / p).is_file())
    assert gone == []
