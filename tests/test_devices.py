"""device= in Python and --device on the command line: cpu and auto run, a missing GPU is one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import bigmodel as bm
from bigmodel.cli import main
from bigmodel.devices import available_devices, resolve_device

NO_CUDA = not torch.cuda.is_available()


def test_auto_is_the_best_device_here() -> None:
    assert resolve_device("auto") == torch.device(available_devices()[0])
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None) is None
    assert available_devices()[-1] == "cpu"


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU")
def test_a_missing_gpu_is_one_clear_error() -> None:
    with pytest.raises(bm.BigModelError, match=r"device 'cuda' is not available on this machine \(available: .*cpu"):
        resolve_device("cuda")
    with pytest.raises(bm.BigModelError, match="device 'cuda' is not available"):
        bm.embed("a cat", "tiny-bert-en", device="cuda")


def test_an_unknown_device_names_the_choices() -> None:
    with pytest.raises(bm.BigModelError, match="device must be one of auto, cpu, cuda, mps"):
        resolve_device("tpu")


def test_every_task_takes_device_cpu_and_auto() -> None:
    assert bm.load("tiny-gpt-en", device="auto").device == resolve_device("auto")
    assert isinstance(bm.generate("Once upon a time", "tiny-gpt-en", max_new_tokens=3, do_sample=False,
                                  device="cpu"), str)
    assert bm.fill_mask("the cat sat on the [MASK] .", "tiny-bert-en", device="auto")[0]["token_str"]
    vectors = bm.embed(["a cat", "a dog"], "tiny-bert-en", device="cpu")
    assert vectors.shape[0] == 2
    digits = np.zeros((8, 8), dtype=np.uint8)
    assert bm.classify_image(digits, "tiny-resnet-digits", device="auto", top_k=1)[0]["label"]


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a GPU")
@pytest.mark.parametrize("argv", [
    ["generate", "hello", "-m", "tiny-gpt-en", "--device", "cuda"],
    ["fill-mask", "the [MASK] .", "--device", "cuda"],
    ["embed", "a cat", "--device", "cuda"],
])
def test_cli_device_that_is_missing_is_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device" in err and "'cuda' is not available" in err
