"""The README runs as written: every ```python and ```bash block, in order, offline.

The blocks run in one temporary folder that stands for the root of a clone (``configs/`` is
linked in; everything the tour writes lands there), each Python block as its own script and
each shell line as its own command, so a failure names the block, its README line and the
command. A line (or a block whose first line) carries ``# (not run in the test: WHY)`` when
running it makes no sense here (a server that runs forever, ``make test`` itself).

The Python blocks are fast and run in every suite; the shell lines train two tiny models and
are marked slow; every ``bigmodel ...`` line is also parsed with the real parser (fast).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bigmodel.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
NOT_RUN = re.compile(r"#\s*\(not run in the test\b")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # README line of the block's first code line

    @property
    def name(self) -> str:
        first = next((x for x in self.text.splitlines() if x.strip()), "")
        return f"README.md:{self.line} ```{self.language} block ({first.strip()[:60]!r})"

    @property
    def skipped(self) -> bool:
        lines = [x for x in self.text.splitlines() if x.strip()]
        return bool(lines) and bool(NOT_RUN.search(lines[0])) and lines[0].lstrip().startswith("#")


def readme_blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in FENCE.finditer(text):
        if match.group(1) in ("python", "bash"):
            line = text.count("\n", 0, match.start(2)) + 1
            blocks.append(Block(match.group(1), match.group(2), line))
    return blocks


BLOCKS = readme_blocks()
PYTHON = [b for b in BLOCKS if b.language == "python"]
SHELL = [b for b in BLOCKS if b.language == "bash"]


def shell_commands(block: Block) -> list[tuple[int, str, bool]]:
    """(README line, command, runs) for each command of a shell block (a line ending in a
    backslash continues on the next one)."""
    commands: list[tuple[int, str, bool]] = []
    pending: tuple[int, str] | None = None
    for i, raw in enumerate(block.text.splitlines()):
        if pending is not None:
            start, text = pending[0], pending[1] + " " + raw.strip()
        elif raw.strip() and not raw.lstrip().startswith("#"):
            start, text = block.line + i, raw.strip()
        else:
            continue
        if text.endswith("\\"):
            pending = (start, text[:-1].rstrip())
            continue
        pending = None
        commands.append((start, text, not block.skipped and not NOT_RUN.search(text)))
    return commands


def _env(folder: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg",
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


class Tour:
    """The shared folder and which blocks already ran in it (blocks depend on earlier ones)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "configs").symlink_to(ROOT / "configs", target_is_directory=True)
        self.done: set[int] = set()

    def run_python(self, block: Block) -> None:
        script = self.folder / f"readme_block_{block.line}.py"
        script.write_text(block.text, encoding="utf-8")
        result = subprocess.run([sys.executable, script.name], cwd=self.folder, env=_env(self.folder),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{block.name} failed:\n{result.stdout[-1500:]}\n{result.stderr[-3000:]}"
        self.done.add(block.line)

    def run_shell(self, block: Block) -> None:
        for line, command, runs in shell_commands(block):
            if not runs:
                continue
            result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=self.folder,
                                    env=_env(self.folder), capture_output=True, text=True, timeout=600,
                                    stdin=subprocess.DEVNULL)
            assert result.returncode == 0, (f"{block.name}, README.md:{line} `{command}` failed "
                                            f"(exit {result.returncode}):\n{result.stdout[-1500:]}\n"
                                            f"{result.stderr[-3000:]}")
        self.done.add(block.line)

    def run_before(self, block: Block) -> None:
        """Run the earlier blocks that have not run yet (a test selected alone still works)."""
        for earlier in BLOCKS:
            if earlier.line >= block.line:
                return
            if earlier.line not in self.done and not earlier.skipped:
                (self.run_python if earlier.language == "python" else self.run_shell)(earlier)


@pytest.fixture(scope="module")
def tour(tmp_path_factory: pytest.TempPathFactory) -> Tour:
    return Tour(tmp_path_factory.mktemp("readme-tour"))


def test_readme_has_a_python_and_a_shell_tour() -> None:
    assert PYTHON and SHELL
    assert "../shared" not in README.read_text(encoding="utf-8"), "the README points outside the repository"


@pytest.mark.parametrize("block", PYTHON, ids=[f"line{b.line}" for b in PYTHON])
def test_readme_python_block_runs(block: Block, tour: Tour) -> None:
    for earlier in PYTHON:  # the shell lines are slow; Python blocks only depend on Python ones
        if earlier.line < block.line and earlier.line not in tour.done and not earlier.skipped:
            tour.run_python(earlier)
    if block.skipped:
        pytest.skip(f"{block.name} is marked not run")
    tour.run_python(block)


COMMANDS = [(block, line, command) for block in SHELL for line, command, _ in shell_commands(block)
            if command.startswith("bigmodel ")]


@pytest.mark.parametrize(("block", "line", "command"), COMMANDS, ids=[f"line{c[1]}" for c in COMMANDS])
def test_readme_bigmodel_line_parses(block: Block, line: int, command: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    words = shlex.split(re.split(r"\s#\s|\s+[|>]\s", command)[0], comments=True)
    try:
        build_parser().parse_args(words[1:])
    except SystemExit:
        pytest.fail(f"{block.name}, README.md:{line} `{command}` does not parse: {capsys.readouterr().err}")


@pytest.mark.slow
@pytest.mark.parametrize("block", SHELL, ids=[f"line{b.line}" for b in SHELL])
def test_readme_shell_block_runs(block: Block, tour: Tour) -> None:
    if block.skipped:
        pytest.skip(f"{block.name} is marked not run")
    tour.run_before(block)
    tour.run_shell(block)
