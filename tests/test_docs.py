"""The documentation holds together: a short README, links that resolve, a module map that matches the tree.

``python -m tests.test_docs`` prints the module map of docs/architecture.md from the tree (each module's
docstring, first sentence), to paste between the map's markers after adding or removing a module.
The console walkthroughs of every document run as written (tests/walkthroughs.py);
``python -m tests.test_docs --update-walkthroughs [FILE.md ...]`` rewrites their output from a real run.
"""

from __future__ import annotations

import ast
import re
import sys
import tempfile
from datetime import date
from pathlib import Path

import pytest

from tests import walkthroughs
from tests.walkthroughs import anchor

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


@pytest.mark.parametrize("path", [p for p in walkthroughs.DOCUMENTS if walkthroughs.runnable(p)], ids=lambda p: p.name)
@pytest.mark.slow
def test_the_walkthroughs_print_what_the_documents_show(path: Path, tmp_path: Path) -> None:
    """Run a document's console blocks in bash with the installed ``iop`` and compare every printed line."""
    problems = walkthroughs.check(path, tmp_path)
    assert problems == [], "\n\n".join(problems) + "\n(python -m tests.test_docs --update-walkthroughs)"


# The console blocks that do not run, each marked `<!-- not-run: why -->` in its document.
NOT_RUN = {
    (
        "guidelines.md",
        "iop --actor kim guideline load stenungsund-2027.toml",
    ): "needs a guideline file of your own (tests/test_guideline_versions.py loads new versions)",
    (
        "integrity.md",
        "iop --lang en --json audit verify | jq '.problems[0]'",
    ): "needs a record the product never writes, forged into the log (tests/test_legality.py forges them)",
    (
        "service.md",
        "iop init",
    ): "starts a server on port 8080 in the background (tests/test_server_e2e.py runs `iop serve` on a free port)",
    (
        "service.md",
        "export IOP_DATABASE_URL=postgresql://iop@db.example/iop",
    ): "needs a PostgreSQL server at db.example (tests/pg.py runs every two-back-end test on the test server)",
    (
        "operations.md",
        "iop --db postgresql://iop@db.example/iop db copy --simulation --to postgresql://iop@db.example/iop_what_if",
    ): "needs a PostgreSQL server at db.example (tests/test_db_copy_pg.py copies on the test server)",
}


def test_every_console_block_runs_or_says_why_not() -> None:
    marked = {
        (block.path.name, block.steps[0].command): block.not_run
        for path in walkthroughs.DOCUMENTS
        for block in walkthroughs.console_blocks(path)
        if block.not_run is not None
    }
    assert marked == NOT_RUN
    assert all(reason for reason in marked.values()), "a not-run block says why"


def test_a_walkthrough_matches_with_placeholders_and_elisions_and_names_what_differs() -> None:
    today = date(2026, 12, 4)
    real = walkthroughs.placeholders(
        "IOP-2026-0001: avtal 2027-01-01, idag 2026-12-04\n│ 1 │ 2026-12-04 08:01:02 │ runner │\n"
        "a\nb\nKontrollsumma: 5f0c12e41a\n",
        today,
        "runner",
    ).splitlines()
    shown = [
        "IOP-YYYY-0001: avtal NEXT-01-01, idag YYYY-MM-DD",
        "│ 1 │ YYYY-MM-DD hh:mm:ss │ root  │",
        "…",
        "Kontrollsumma: 5f0c…",
    ]
    assert walkthroughs.differences(shown, real) == []
    assert walkthroughs.rewritten(shown, real) == [shown[0], real[1], "…", shown[3]]  # the printed padding
    changed = ["IOP-2026-0001: avtal 2027-01-02, idag 2026-12-04", *real[1:], "en rad till"]
    assert walkthroughs.differences(shown, changed) == [
        "- IOP-YYYY-0001: avtal NEXT-01-01, idag YYYY-MM-DD",
        "+ IOP-2026-0001: avtal 2027-01-02, idag 2026-12-04",
        "+ en rad till",
    ]
    assert walkthroughs.rewritten(shown, changed) == [changed[0], real[1], "…", shown[3], "en rad till"]
    under_the_elision = [*real[:-1], "Kontrollsumma: ffff"]
    assert walkthroughs.differences(shown, under_the_elision) == ["- Kontrollsumma: 5f0c…"]
    assert walkthroughs.differences(["IOP-YYYY-0001"], ["IOP-2026-0001"]) == ["- IOP-YYYY-0001", "+ IOP-2026-0001"]


def test_console_blocks_are_read_with_their_commands_and_markers(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text(
        "```console\n$ iop a \\\n    --b c\none\n$ echo $?\n0\n```\n\n```sh\npip install x\n```\n"
        "<!-- not-run: needs a server -->\n\n```\n$ curl x\n{}\n```\n",
        encoding="utf-8",
    )
    blocks = walkthroughs.console_blocks(doc)
    assert [(b.start, b.end, b.not_run) for b in blocks] == [(1, 6, None), (14, 16, "needs a server")]
    assert [(s.command, s.line, s.lines, s.shown) for s in blocks[0].steps] == [
        ("iop a --b c", 2, 2, ["one"]),
        ("echo $?", 5, 1, ["0"]),
    ]


def main(argv: list[str]) -> None:
    """Print the module map; with ``--update-walkthroughs [FILE.md ...]``, rewrite the walkthroughs' output."""
    if argv[:1] != ["--update-walkthroughs"]:
        print("\n".join(module_map()))
        return
    chosen = [Path(arg).resolve() for arg in argv[1:]] or walkthroughs.DOCUMENTS
    for path in chosen:
        if walkthroughs.runnable(path):
            with tempfile.TemporaryDirectory() as workdir:
                changed = walkthroughs.update(path, Path(workdir))
            print(f"{path.relative_to(ROOT)}: {'rewritten' if changed else 'unchanged'}")


if __name__ == "__main__":
    main(sys.argv[1:])
