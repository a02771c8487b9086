"""The console walkthroughs of README.md and docs/*.md, run as written and compared with what they show.

A console block is a fenced block whose first line starts with ``$ ``: commands (``\\`` continues a
command on the next line) each followed by the lines it prints. A document's blocks run in order in
one bash process, in a fresh directory of their own with ``IOP_DATABASE_URL`` naming ``iop.db`` there,
the shipped settings and the installed ``iop``. A block preceded by ``<!-- not-run: WHY -->`` is
skipped; ``<!-- walkthroughs after: FILE.md#heading -->`` first runs FILE's blocks from that heading on
(their output unchecked).

What varies from run to run is written with placeholders of the same width as what they stand for,
so that tables stay aligned (docs/testing.md):

- ``YYYY-MM-DD hh:mm:ss`` (or ``YYYY-MM-DDThh:mm:ss.ffffff``): any date and time; ``YYYY-MM-DD``: today;
- ``YYYY``: this year (``IOP-YYYY-0001``), ``NEXT``: next year; ``root``: the OS login that ran it;
- ``…`` inside a line: any text (a hash, a token, a size); a line of only ``…``: any lines, or none.

``python -m tests.test_docs --update-walkthroughs`` rewrites each block's output from a real run,
placeholders re-applied, keeping every shown line that still matches (and so its ``…``).
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ELISION = "…"
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(.*?)\s*-->$")
AFTER = re.compile(r"^<!--\s*walkthroughs after:\s*(\S+)\s*-->$", re.MULTILINE)
OPENING = re.compile(r"^(```|~~~)(\w*)\s*$")
MARKER = "@@step"
TZ = ZoneInfo("Europe/Stockholm")


@dataclass
class Step:
    command: str  # continuation lines joined
    line: int  # the command's line in the document, from 1
    lines: int  # how many lines of the document the command takes
    shown: list[str]


@dataclass
class Block:
    path: Path
    start: int  # index of the block's first line (after the fence) in the document
    end: int  # index of the closing fence
    steps: list[Step]
    not_run: str | None  # why, for a block marked not-run


def console_blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` whose first line is a command, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = OPENING.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == opening.group(1))
        if lines[i + 1 : i + 2] and lines[i + 1].startswith("$ "):
            before = next((line.strip() for line in reversed(lines[:i]) if line.strip()), "")
            marked = NOT_RUN.match(before)
            found.append(Block(path, i + 1, end, steps(lines[i + 1 : end], i + 2), marked.group(1) if marked else None))
        i = end + 1
    return found


def steps(body: Sequence[str], first: int) -> list[Step]:
    """The commands of a block whose first line is line ``first`` of its document."""
    out: list[Step] = []
    lines = iter(enumerate(body, first))
    for number, line in lines:
        if line.startswith("$ "):
            command, taken = line[2:], 1
            while command.endswith("\\"):
                command, taken = command[:-1] + next(lines)[1].strip(), taken + 1
            out.append(Step(command, number, taken, []))
        else:
            out[-1].shown.append(line)
    return out


def runnable(path: Path) -> list[Block]:
    return [block for block in console_blocks(path) if block.not_run is None]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def prelude(path: Path) -> list[Step]:
    """The steps a document's walkthroughs start after, unchecked.

    ``<!-- walkthroughs after: FILE.md#heading -->``: FILE's blocks from that heading on (all without ``#``).
    """
    after = AFTER.search(path.read_text(encoding="utf-8"))
    if not after:
        return []
    name, _, fragment = after.group(1).partition("#")
    first = (path.parent / name).resolve()
    lines = first.read_text(encoding="utf-8").splitlines()
    headings = [i for i, line in enumerate(lines) if line.startswith("#") and anchor(line.lstrip("#")) == fragment]
    assert headings or not fragment, f"{path.name}: no heading #{fragment} in {name}"
    start = headings[0] if fragment else 0
    return [*prelude(first), *(step for block in runnable(first) if block.start > start for step in block.steps)]


def run(path: Path, workdir: Path) -> list[str]:
    """Run ``path``'s walkthroughs in bash in ``workdir``: what each of its own steps printed (stdout and stderr)."""
    before, own = prelude(path), [step for block in runnable(path) for step in block.steps]
    keep_status = f'status=$?; echo {MARKER}; (exit "$status")'  # so that `echo $?` shows the command before
    # Braces, not a subshell: `cd`, `export` and variables carry over; the whole line's stderr is its output.
    script = "set -u\n" + "".join(f"{keep_status}\n{{ {step.command}\n}} 2>&1\n" for step in [*before, *own])
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOP_")}
    env.update(
        TMPDIR=str(workdir),
        TZ="Europe/Stockholm",
        HOME=str(workdir),
        CI="",
        COLUMNS="120",
        IOP_DATABASE_URL=f"sqlite:///{workdir}/iop.db",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    # Tables as a 120-column terminal draws them, whatever terminal the test itself runs in.
    done = subprocess.run(
        ["bash", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
    )
    if done.stderr:
        raise AssertionError(f"{path.name}: bash wrote to stderr:\n{done.stderr}")
    printed = done.stdout.split(f"{MARKER}\n")[1:]
    assert len(printed) == len(before) + len(own), f"{path.name}: the walkthrough stopped early"
    return printed[len(before) :]


def placeholders(text: str, today: date, login: str) -> str:
    """Real output with what varies written as the documents write it."""
    text = re.sub(
        r"\b\d{4}-\d\d-\d\d([ T])\d\d:\d\d:\d\d(\.\d+)?",
        lambda m: f"YYYY-MM-DD{m.group(1)}hh:mm:ss{'.ffffff' if m.group(2) else ''}",
        text,
    )
    text = text.replace(today.isoformat(), "YYYY-MM-DD")
    text = re.sub(rf"\b{today.year}\b", "YYYY", text)
    text = re.sub(rf"\b{today.year + 1}\b", "NEXT", text)
    return re.sub(rf"\b{re.escape(login)}\b", "root", text) if login != "root" else text


def key(line: str) -> str:
    """A line without table rules and padding, which follow the width of the login and the terminal."""
    return re.sub(r"[\s\u2500-\u257f]+", " ", line).strip()


def fits(shown: str, real: str) -> bool:
    if shown == ELISION:
        return False
    pattern = ".*?".join(re.escape(part) for part in key(shown).split(ELISION))
    return re.fullmatch(pattern, key(real)) is not None


UNPAIRED = 10_000  # a line left unpaired costs this much, a line under an elision 1: fewest unpaired, then elided


def costs(shown: list[str], real: list[str]) -> list[list[int]]:
    """``cost[i][j]``: the cheapest alignment of ``shown[i:]`` with ``real[j:]``."""
    n, m = len(shown), len(real)
    cost = [[(m - j) * UNPAIRED for j in range(m + 1)] for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        miss = UNPAIRED * (shown[i] != ELISION)
        for j in range(m, -1, -1):
            options = [cost[i + 1][j] + miss]
            if j < m:
                options.append(cost[i][j + 1] + (1 if shown[i] == ELISION else UNPAIRED))
                if fits(shown[i], real[j]):
                    options.append(cost[i + 1][j + 1])
            cost[i][j] = min(options)
    return cost


def align(shown: list[str], real: list[str]) -> list[tuple[str, str]]:
    """The cheapest alignment of shown lines with printed ones, as (how, line) pairs.

    ``fit``: a shown line that fits the printed one (given if it elides, else the printed line);
    ``elision``: a ``…`` line; ``elided``: a printed line under it; ``lost``: a shown line nothing
    printed fits; ``new``: a printed line the document lacks.
    """
    cost, pairs = costs(shown, real), []
    i = j = 0
    while i < len(shown) or j < len(real):
        here, elision = cost[i][j], i < len(shown) and shown[i] == ELISION
        if elision and j < len(real) and here == cost[i][j + 1] + 1:
            pairs.append(("elided", real[j]))
            j += 1
        elif i < len(shown) and j < len(real) and fits(shown[i], real[j]) and here == cost[i + 1][j + 1]:
            pairs.append(("fit", shown[i] if ELISION in shown[i] else real[j]))  # the printed padding and rules
            i, j = i + 1, j + 1
        elif i < len(shown) and here == cost[i + 1][j] + (0 if elision else UNPAIRED):
            pairs.append(("elision" if elision else "lost", shown[i]))
            i += 1
        else:
            pairs.append(("new", real[j]))
            j += 1
    return pairs


def differences(shown: list[str], real: list[str]) -> list[str]:
    """``-`` shown lines the output lacks, ``+`` printed lines the document lacks; none when it matches."""
    pairs = align([line for line in shown if key(line)], [line for line in real if key(line)])
    return [f"{'-' if how == 'lost' else '+'} {line}" for how, line in pairs if how in ("lost", "new")]


def rewritten(shown: list[str], real: list[str]) -> list[str]:
    """The output to show: the printed lines, except that shown lines with ``…`` that still fit stay as shown."""
    return [line for how, line in align(shown, real) if how in ("fit", "elision", "new")]


def now_and_login() -> tuple[date, str]:
    return datetime.now(TZ).date(), pwd.getpwuid(os.getuid()).pw_name


def check(path: Path, workdir: Path) -> list[str]:
    """Every difference between what ``path``'s walkthroughs show and what they print, by command."""
    today, login = now_and_login()
    own = [(block, step) for block in runnable(path) for step in block.steps]
    problems = []
    for (block, step), out in zip(own, run(path, workdir), strict=True):
        diff = differences(step.shown, placeholders(out, today, login).splitlines())
        if diff:
            problems.append(f"{block.path.relative_to(ROOT)}:{step.line}: $ {step.command}\n" + "\n".join(diff))
    return problems


def update(path: Path, workdir: Path) -> bool:
    """Rewrite ``path``'s shown output from a real run; whether anything changed."""
    today, login = now_and_login()
    printed = iter(run(path, workdir))
    lines = path.read_text(encoding="utf-8").splitlines()
    for block in reversed([(b, [next(printed) for _ in b.steps]) for b in runnable(path)]):
        body, at = [], block[0].start
        for step, out in zip(block[0].steps, block[1], strict=True):
            body += lines[at : at + step.lines]
            body += rewritten(step.shown, placeholders(out, today, login).splitlines())
            at += step.lines + len(step.shown)
        lines[block[0].start : block[0].end] = body
    text = "\n".join(lines) + "\n"
    changed = text != path.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    return changed
