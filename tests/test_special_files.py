"""Special files as inputs are refused before reading (issue #13, item 9).

Every command that reads a file the user names (a guideline, a batch, a backup, the
settings, a workflow definition, TLS files) refuses a directory, a FIFO, a character
device (``/dev/zero``) or a socket with exit 6 and a message naming the path and what it
is, before opening it: opening a FIFO blocks, reading ``/dev/zero`` never ends. Text
inputs are also bounded in size (``resources.MAX_INPUT_BYTES``, 4 MiB). The real ``iop``
runs in a subprocess with a timeout, on a real FIFO (``os.mkfifo``) and a bound socket.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from iop_workflow.errors import DefinitionError, InvalidInput
from iop_workflow.resources import MAX_INPUT_BYTES, read_text, require_regular
from tests.cli_helpers import IOP, Cli

KIND_WORDS = {"zero": "a character device", "fifo": "a FIFO", "directory": "a directory", "socket": "a socket"}


@pytest.fixture(scope="module")
def specials() -> Iterator[dict[str, Path]]:
    """One of each kind, in a short directory (a socket's path is limited to about 100 bytes)."""
    where = Path(tempfile.mkdtemp(prefix="iop-special-"))
    fifo, directory, sock_path = where / "fifo", where / "dir", where / "sock"
    os.mkfifo(fifo)
    directory.mkdir()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sock_path))
    try:
        yield {"zero": Path("/dev/zero"), "fifo": fifo, "directory": directory, "socket": sock_path}
    finally:
        sock.close()
        shutil.rmtree(where)


def _finishes(action: Callable[[], object], seconds: float = 10.0) -> BaseException | None:
    """Run ``action`` in a daemon thread; fail the test (not hang it) if it blocks."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]


@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_the_one_reader_refuses_each_special_file_without_opening_it(specials: dict[str, Path], kind: str) -> None:
    error = _finishes(lambda: read_text(specials[kind], field="FILE"))
    assert isinstance(error, InvalidInput), error
    assert KIND_WORDS[kind] in error.message("en") and str(specials[kind]) in error.message("en")
    assert error.exit_status == 6
    with pytest.raises(InvalidInput):
        require_regular(specials[kind])


def test_the_one_reader_bounds_the_size(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"#" * (MAX_INPUT_BYTES + 1))
    with pytest.raises(InvalidInput) as caught:
        read_text(big)
    assert "4 194 304" in caught.value.message("sv") and "4,194,304" in caught.value.message("en")
    big.write_bytes(b"#" * MAX_INPUT_BYTES)
    assert len(read_text(big)) == MAX_INPUT_BYTES  # the limit itself is allowed


def test_a_missing_file_is_still_named_as_missing(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError) as caught:
        read_text(tmp_path / "saknas.toml")
    assert "No such file" in caught.value.problem


# Each input that names a file: the command line, with {f} for the file.
INPUTS: dict[str, list[str]] = {
    "guideline load FILE": ["guideline", "load", "{f}"],
    "case fire --from-file": ["case", "fire", "--from-file", "{f}"],
    "db restore FILE": ["db", "restore", "{f}", "--force"],
    "--config": ["--config", "{f}", "case", "list"],
    "IOP_CONFIG": ["case", "list"],
    "workflow diagram --definition": ["workflow", "diagram", "--definition", "{f}"],
    "serve --ssl-certfile": ["serve", "--port", "0", "--ssl-certfile", "{f}", "--ssl-keyfile", "{f}"],
}
TEXT_INPUTS = (
    "guideline load FILE",
    "case fire --from-file",
    "--config",
    "IOP_CONFIG",
    "workflow diagram --definition",
)


def _run(cli: Cli, name: str, path: Path, *, as_json: bool) -> subprocess.CompletedProcess[str]:
    args = [str(path) if word == "{f}" else word for word in INPUTS[name]]
    env = {**cli.env, **({"IOP_CONFIG": str(path)} if name == "IOP_CONFIG" else {})}
    try:
        return subprocess.run(
            [*IOP, *(["--json"] if as_json else []), "--lang", "en", *args],
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=30,
            check=False,
            cwd=cli.tmp_path,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"iop {name} on {path} did not finish in 30 s (it opened or read the file)")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    tmp = tmp_path_factory.mktemp("special")
    cli = Cli(tmp, f"sqlite:///{tmp / 'iop.db'}")
    cli.ok("init")
    return cli


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
@pytest.mark.parametrize("name", sorted(INPUTS))
def test_each_special_file_at_each_file_input_is_exit_6_before_reading(
    cli: Cli, specials: dict[str, Path], name: str, kind: str
) -> None:
    path = specials[kind]
    done = _run(cli, name, path, as_json=kind == "fifo")
    assert done.returncode == 6, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    if kind == "fifo":  # --json: one error document on stdout
        error = json.loads(done.stdout)["error"]
        assert error["code"] == "invalid_input" and KIND_WORDS[kind] in error["message"], error
    else:
        assert KIND_WORDS[kind] in done.stderr and str(path) in done.stderr, done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("name", TEXT_INPUTS)
def test_an_oversized_text_input_is_exit_6_before_parsing(cli: Cli, name: str) -> None:
    big = cli.tmp_path / "big.txt"
    big.write_bytes(b"#" * (MAX_INPUT_BYTES + 1))
    done = _run(cli, name, big, as_json=False)
    assert done.returncode == 6 and "larger than 4,194,304 bytes" in done.stderr, done.stderr
