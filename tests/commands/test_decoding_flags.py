"""GenerationOptions is the one list of decoding keywords: the CLI flags, the text API's keywords,
the model's generation_config fields and the server's sampling fields all follow it."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import pytest

from bigmodel.cli import build_parser
from bigmodel.decoding.model_defaults import GenerationConfig
from bigmodel.decoding.options import FLAG_OPTIONS, SAVED_OPTIONS, TEXT_OPTIONS
from bigmodel.errors import BigModelError
from bigmodel.tasks.generation import generate_detailed


def _flags(verb: str) -> dict[str, str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[verb]
    return {a.dest: a.help for a in sub._actions}


def test_every_flagged_option_is_a_generate_flag_with_its_help() -> None:
    flags = _flags("generate")
    for option in FLAG_OPTIONS:
        assert flags[option.name] == option.metadata["help"]
    args = build_parser().parse_args(["generate", "hi", "--early-stopping", "never", "--num-beams", "3"])
    assert (args.early_stopping, args.num_beams, args.length_penalty, args.top_p) == ("never", 3, 1.0, None)


def test_chat_takes_the_sampling_flags() -> None:
    flags = _flags("chat")
    assert {"temperature", "top_k", "top_p", "min_p", "repetition_penalty", "seed"} <= set(flags)
    assert "num_beams" not in flags


def test_text_keywords_and_model_defaults_follow_the_options() -> None:
    parameters = inspect.signature(generate_detailed).parameters
    assert all(option.name in parameters for option in TEXT_OPTIONS)
    config_fields = {f.name for f in dataclasses.fields(GenerationConfig)}
    assert config_fields == {f.name for f in SAVED_OPTIONS} | {"bos_token_id", "extra"}
    with pytest.raises(BigModelError, match='unknown generation option .top_kk. .did you mean "top_k"'):
        generate_detailed("hi", top_kk=3)


def test_server_sampling_fields_are_decoding_options() -> None:
    pytest.importorskip("pydantic")
    from bigmodel.serve.schemas import DECODING_FIELDS

    assert DECODING_FIELDS == ("temperature", "top_p", "top_k", "repetition_penalty")


def test_the_parser_reads_the_options_without_importing_torch() -> None:
    code = "import sys; from bigmodel.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
