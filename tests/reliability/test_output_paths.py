"""Output paths are checked before any work starts (bigmodel/paths.py), and the CLI's edges.

A path that can never be written is one error line, before a model loads or a corpus is read,
and nothing is created on the way: not the folder asked for, not a parent.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch

from bigmodel import paths
from bigmodel.cli import main
from bigmodel.errors import BigModelError

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _no_kernel_notice(monkeypatch) -> None:
    # The once-per-machine kernel measurement notice (nn/kernel_choice.py) is not an error line.
    monkeypatch.setenv("BIGMODEL_KERNEL_NOTICE", "0")


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "folder").mkdir()
    return tmp_path


def test_a_file_may_go_into_new_folders(tree: Path) -> None:
    assert paths.check_output_file(tree / "new" / "deeper" / "a.png", "--plot") == tree / "new/deeper/a.png"
    assert not (tree / "new").exists()  # checking creates nothing
    assert paths.check_output_dir(tree / "folder", "--out") == tree / "folder"
    assert paths.check_output_dir(tree / "fresh" / "run", "--out") == tree / "fresh/run"


@pytest.mark.parametrize(("kind", "relative", "message"), [
    ("file", "folder", "is a folder"),
    ("file", "file.txt/a.png", "file.txt is a file, not a folder"),
    ("file", "file.txt/deeper/a.png", "file.txt is a file, not a folder"),
    ("file", "n" * 256 + ".png", "longer than the 255 bytes"),
    ("file", "\u00e9" * 200 + ".png", "longer than the 255 bytes"),  # 400 bytes in UTF-8
    ("dir", "file.txt", "is a file; give a folder"),
    ("dir", "file.txt/run", "is a file, not a folder"),
    ("dir", "d" * 300, "longer than the 255 bytes"),
    ("dir", "/".join(["p" * 200] * 25), "longer than the 4096 bytes"),
    ("dir", "", "the path is empty"),
])
def test_paths_that_can_never_be_written(tree: Path, kind: str, relative: str, message: str) -> None:
    check = paths.check_output_file if kind == "file" else paths.check_output_dir
    target = "" if relative == "" else tree / relative
    with pytest.raises(BigModelError, match=message) as info:
        check(target, "--out")
    assert str(info.value).startswith("--out: ") and len(str(info.value)) < 300


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_we_may_not_write_into(tree: Path) -> None:
    locked = tree / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(BigModelError, match="permission denied"):
        paths.check_output_file(locked / "a.png", "--plot")


def test_lookups_of_names_too_long_say_false(tree: Path) -> None:
    long = tree / ("x" * 400)
    assert not paths.exists(long) and not paths.is_dir(long) and not paths.is_file(long)
    assert not paths.exists(tree / "file.txt" / "under")  # ENOTDIR
    assert not paths.exists("nul\x00byte")


def test_the_os_error_for_a_name_too_long_becomes_one_line() -> None:
    try:
        open("y" * 400)  # noqa: SIM115
    except OSError as exc:
        error = paths.too_long_error(exc)
    assert error is not None and "too long for the operating system" in str(error)
    assert paths.too_long_error(FileNotFoundError(2, "missing", "f")) is None


def test_nothing_is_created_when_an_output_is_refused(tree: Path, capsys) -> None:
    code = _run(["prepare", str(tree / "file.txt"), "--tokenizer", "gpt2", "--out", str(tree / "file.txt/sub/x")])
    assert code == 2
    assert sorted(p.name for p in tree.iterdir()) == ["file.txt", "folder"]


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refuses with exit code 2
        return int(exc.code)


def _one_error_line(err: str) -> str:
    lines = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]
    lines = [line for line in lines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    return lines[0]


def test_serve_on_a_port_in_use_says_so_before_serving(capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.perf_counter()
        code = _run(["serve", "--model", "tiny-gpt-en", "--port", str(port)])
        seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2
    line = _one_error_line(err)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "serving" not in err
    assert seconds < 5  # refused before any model was loaded


def test_fill_mask_past_the_truncation_is_short_and_says_why(capsys) -> None:
    text = "word " * 3000 + "[MASK]"
    assert _run(["fill-mask", text, "--model", "tiny-bert-en"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "beyond the model's" in line and len(line) < 300


def test_an_error_after_a_progress_bar_leaves_no_finished_bar(tmp_path: Path, capsys) -> None:
    # Perplexity of an empty-after-tokenization text: the bar (if any) is erased before the line.
    (tmp_path / "blank.txt").write_text("\n\n\n")
    code = _run(["eval", "--model", "tiny-gpt-en", "--data", str(tmp_path / "blank.txt")])
    err = capsys.readouterr().err
    assert code == 2
    assert "100%" not in _one_error_line(err)
