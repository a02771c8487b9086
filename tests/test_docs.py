"""The documentation holds together: a short README, links that resolve, a module map that matches the tree.

``python -m tests.test_docs`` prints the module map of docs/architecture.md from the tree (each module's
docstring, first sentence), to paste between the map's markers after adding or removing a module.
"""

from __future__ import annotations

import ast
import os
import pwd
import re
import subprocess
import sys
import unicodedata
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 260
MAP_START, MAP_END = "<!-- module map: start -->", "<!-- module map: end -->"

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def prose(text: str) -> list[str]:
    """The lines of a Markdown text outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in prose(path.read_text(encoding="utf-8")):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = anchor(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    found = []
    for line in prose(path.read_text(encoding="utf-8")):
        found += [target for target in LINK.findall(re.sub(r"`[^`]*`", "", line))]
    return found


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        file = (path.parent / file_part).resolve() if file_part else path
        if not file.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            problems.append(f"{path.name}: {target}: no heading #{fragment} in {file.name}")
    return problems


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    assert broken_links(path) == []


def test_readme_links_every_doc() -> None:
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README) if not t.startswith("http")}
    missing = [p.name for p in DOCS if p.resolve() not in linked]
    assert missing == [], f"README.md links no {missing}"


def test_the_link_checker_finds_broken_links(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Top\n\n## The `iop` command line\n\n```\n# not a heading\n```\n")
    doc = tmp_path / "b.md"
    doc.write_text(
        "[ok](a.md#the-iop-command-line) [top](a.md#top) [web](https://example.org/x.md)\n"
        "[gone](c.md) [bad](a.md#not-a-heading) [self](#nowhere)\n```\n[in code](d.md)\n```\n"
    )
    assert broken_links(doc) == [
        "b.md: c.md: no such file",
        "b.md: a.md#not-a-heading: no heading #not-a-heading in a.md",
        "b.md: #nowhere: no heading #nowhere in b.md",
    ]


def summary(path: Path) -> str:
    """A module's docstring, first sentence, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    para = re.sub(r":\w+:`~?([^`]*)`", r"\1", para).replace("``", "")
    first = re.split(r"(?<=[a-z)`])\.\s", para, maxsplit=1)[0]
    return first.removesuffix(".")


def module_map() -> list[str]:
    modules = sorted(p.relative_to(ROOT) for p in (ROOT / "iop_workflow").rglob("*.py"))
    width = max(len(str(m)) for m in modules) + 2
    return [f"{m!s:<{width}}{summary(ROOT / m)}".rstrip() for m in modules]


def documented_map() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split(MAP_START, 1)[1].split(MAP_END, 1)[0]
    return [line for line in block.splitlines() if line.startswith("iop_workflow/")]


def test_module_map_lists_every_module_of_the_tree() -> None:
    def names(lines: list[str]) -> list[str]:
        return [line.split()[0] for line in lines]

    assert names(documented_map()) == names(module_map()), "regenerate it: python -m tests.test_docs"


def tour() -> list[tuple[str, list[str]]]:
    """The README's five-minute tour: each command (continuation lines joined) with its printed lines."""
    text = README.read_text(encoding="utf-8").split("## A five-minute tour", 1)[1]
    block = text.split("```console\n", 1)[1].split("\n```", 1)[0]
    steps: list[tuple[str, list[str]]] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + next(lines).strip()
            steps.append((command, []))
        else:
            steps[-1][1].append(line)
    return steps


def comparable(lines: list[str]) -> list[str]:
    """Lines without the table rules and padding, which follow the width of the login and the terminal."""
    out = []
    for line in lines:
        kept = re.sub(r"[\s\u2500-\u257f]+", " ", line).strip()
        if kept:
            out.append(kept)
    return out


@pytest.mark.slow
def test_the_readme_tour_prints_what_the_readme_shows(tmp_path: Path) -> None:
    """Run the tour's commands in bash with the installed ``iop`` and compare every printed line."""
    marker = "@@step"
    steps = tour()
    keep_status = f'status=$?; echo {marker}; (exit "$status")'  # `echo $?` shows the command before it
    script = "set -u\n" + "".join(f"{keep_status}\n{command} 2>&1\n" for command, _ in steps)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
    env.update(TMPDIR=str(tmp_path), TZ="Europe/Stockholm", HOME=str(tmp_path), CI="", COLUMNS="120",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")  # fmt: skip
    # Tables as a 120-column terminal draws them, whatever terminal the test itself runs in.
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.stderr == ""
    printed = done.stdout.split(f"{marker}\n")[1:]
    assert len(printed) == len(steps)
    now = datetime.now(ZoneInfo("Europe/Stockholm"))
    login = pwd.getpwuid(os.getuid()).pw_name
    for (command, shown), out in zip(steps, printed, strict=True):
        real = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "YYYY-MM-DD hh:mm:ss", out)
        real = real.replace(now.date().isoformat(), "YYYY-MM-DD").replace(f"IOP-{now.year}-", "IOP-YYYY-")
        real = re.sub(rf"\b{re.escape(login)}\b", "root", real)
        assert comparable(real.splitlines()) == comparable(shown), command


if __name__ == "__main__":
    print("\n".join(module_map()))
