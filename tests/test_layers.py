"""The layer check of architecture.md: it passes on the tree and fails on an upward import."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).with_name("lint-imports")
    if not executable.exists():
        pytest.skip("import-linter is not installed (uv sync installs it with the dev group)")
    # The copy comes first on the path, so the check reads it rather than the installed app.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(executable), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in ("app", "workers"):
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_its_layers(tree: Path) -> None:
    result = _lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "wrong_import"),
    [
        ("app/core/errors.py", "import app.grades.models"),  # the bottom reaching the top
        ("app/grades/models.py", "import app.announcements.models"),  # two producers
        ("app/schools/access.py", "import app.notifications.models"),  # one layer up
    ],
)
def test_an_upward_or_sideways_import_fails_the_check(
    tree: Path, module: str, wrong_import: str
) -> None:
    target = tree / module
    target.write_text(target.read_text() + f"\n{wrong_import}  # deliberately wrong\n")

    result = _lint_imports(tree)

    importer = module.removesuffix(".py").replace("/", ".")
    imported = wrong_import.removeprefix("import ")
    assert result.returncode != 0
    assert f"{importer} -> {imported}" in result.stdout, result.stdout


# Raw driver calls: only app/core/db.py (and dev's mongomock store beside it) makes them.
DRIVER_CALLS = re.compile(
    r"get_motor_collection|\bmotor\.|find_one_and_update|bulk_write|count_documents"
    # On a collection (a variable or a call's result), not on a Beanie class nor db.<helper>.
    r"|(?:\)|\b(?!db\b)[a-z_]\w*)\."
    r"(insert_many|update_one|update_many|delete_one|delete_many|distinct)\("
)
# The query helpers of app/core/db.py: only repositories (and core itself) call them.
_DISTINCT_HELPERS = (
    r"(collection|aggregate|claim_one|claim_many|update_each|facets|find_rows?"
    r"|insert_many_ignoring_duplicates)\("
)
_ALL_HELPERS = (
    r"(collection|aggregate|claim_one|claim_many|update_each|facets|find_rows?|count"
    r"|update_one|update_many|delete_one|distinct|insert_many_ignoring_duplicates)\("
)
# Called bare (imported from app.core.db; names too common elsewhere, like count, are only
# caught as db.<helper>) or as db.<helper>; repository.count( is fine.
QUERY_HELPERS = re.compile(rf"(?<![\w.]){_DISTINCT_HELPERS}|\bdb\.{_ALL_HELPERS}")
DB_SEAM = {ROOT / "app" / "core" / "db.py", ROOT / "app" / "core" / "embedded.py"}


def _code_lines(path: Path) -> list[tuple[int, str]]:
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0]
        if code.strip():
            lines.append((number, code))
    return lines


def _python_files() -> list[Path]:
    return [
        path for package in ("app", "workers") for path in sorted((ROOT / package).rglob("*.py"))
    ]


def test_only_the_db_seam_names_the_driver() -> None:
    """Motor's collection API is reached only through app/core/db.py, so a move to PyMongo's
    async client touches one file."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {code.strip()}"
        for path in _python_files()
        if path not in DB_SEAM
        for number, code in _code_lines(path)
        if DRIVER_CALLS.search(code)
    ]
    assert offenders == []


def test_queries_live_in_repositories() -> None:
    """Outside core, only a domain's repository.py calls the query helpers of core/db.py;
    services keep the rules and ask their repository."""
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {code.strip()}"
        for path in _python_files()
        if path.name != "repository.py" and ROOT / "app" / "core" not in path.parents
        for number, code in _code_lines(path)
        if QUERY_HELPERS.search(code) and "def " not in code
    ]
    assert offenders == []


def test_every_package_and_module_has_a_layer() -> None:
    """A package left out of the layers contract is checked by nothing: its imports could
    point anywhere and lint-imports would still pass."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        contracts = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    named = {
        module.strip()
        for contract in contracts
        if contract["type"] == "layers"
        for layer in contract["layers"]
        for module in layer.replace(":", "|").split("|")
    }
    top_level = {
        f"app.{path.stem}"
        for path in (ROOT / "app").iterdir()
        if path.name != "__init__.py" and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    assert sorted(top_level - named) == []
