"""A model's name gives its tokenizer without loading the model code (tokenization < hub)."""

from __future__ import annotations

import os
import subprocess
import sys

PROGRAM = """
import sys
from bigmodel.tokenization import load_tokenizer
tok = load_tokenizer("tiny-gpt-en")
assert tok.decode(tok.encode("In the beginning")) == "In the beginning"
assert "bigmodel.hub" not in sys.modules, "load_tokenizer imported bigmodel.hub"
"""


def test_a_model_preset_name_loads_its_tokenizer_without_importing_hub() -> None:
    result = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
