"""Packaging: one version source, upper bounds on dependencies that change behaviour (docs/operations.md)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import iop_workflow
from iop_workflow.cli.main import run
from iop_workflow.domain import calendar

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# A new major (or, for 0.x and CalVer packages, a new minor or year) of these changes what the product does
# or what the checks report; each must have an upper bound that the installed release satisfies.
BOUNDED = ("structlog", "holidays", "rich", "python-stdnum", "platformdirs", "babel")
BOUNDED_TEST = ("ruff", "mypy")


def requirements(extra: str | None = None) -> dict[str, Requirement]:
    project = PYPROJECT["project"]
    lines = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    parsed = (Requirement(line) for line in lines)
    return {req.name.lower(): req for req in parsed}


def test_the_version_is_written_in_one_place() -> None:
    assert "version" not in PYPROJECT["project"]
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "iop_workflow/__init__.py"
    assert iop_workflow.__version__ == importlib.metadata.version("iop-workflow")


def test_iop_version_prints_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"iop, version {importlib.metadata.version('iop-workflow')}\n"


@pytest.mark.slow
def test_installed_iop_version_prints_the_package_metadata() -> None:
    script = Path(sys.executable).with_name("iop")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"iop, version {importlib.metadata.version('iop-workflow')}\n"


@pytest.mark.parametrize(("name", "extra"), [(n, None) for n in BOUNDED] + [(n, "test") for n in BOUNDED_TEST])
def test_dependency_has_an_upper_bound_the_installed_release_meets(name: str, extra: str | None) -> None:
    req = requirements(extra)[name]
    uppers = [spec for spec in req.specifier if spec.operator in {"<", "<=", "~=", "=="}]
    assert uppers, f"{name}: no upper bound in {req}"
    installed = Version(importlib.metadata.version(name))
    assert req.specifier.contains(installed), f"{name} {installed} is outside {req.specifier}"


def test_test_tools_are_pinned_to_one_minor() -> None:
    for name in BOUNDED_TEST:
        spec = requirements("test")[name].specifier
        lower = Version(next(s.version for s in spec if s.operator == ">="))
        upper = Version(next(s.version for s in spec if s.operator == "<"))
        assert (upper.major, upper.minor) == (lower.major, lower.minor + 1), f"{name}: {spec}"


# The Swedish days off that move deadlines (public and de facto holidays, weekends aside), as the pinned
# holidays release gives them. A release that adds, moves or drops one fails here before it moves a deadline.
DAYS_OFF = {
    2026: [
        "2026-01-01",
        "2026-01-06",
        "2026-04-03",
        "2026-04-05",
        "2026-04-06",
        "2026-05-01",
        "2026-05-14",
        "2026-05-24",
        "2026-06-06",
        "2026-06-19",
        "2026-06-20",
        "2026-10-31",
        "2026-12-24",
        "2026-12-25",
        "2026-12-26",
        "2026-12-31",
    ],
    2027: [
        "2027-01-01",
        "2027-01-06",
        "2027-03-26",
        "2027-03-28",
        "2027-03-29",
        "2027-05-01",
        "2027-05-06",
        "2027-05-16",
        "2027-06-06",
        "2027-06-25",
        "2027-06-26",
        "2027-11-06",
        "2027-12-24",
        "2027-12-25",
        "2027-12-26",
        "2027-12-31",
    ],
}


@pytest.mark.parametrize("year", sorted(DAYS_OFF))
def test_swedish_days_off_are_the_known_ones(year: int) -> None:
    assert sorted(calendar._swedish_holidays(year)) == [date.fromisoformat(d) for d in DAYS_OFF[year]]
