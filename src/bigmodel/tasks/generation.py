"""Text in, text out: generation for the Python API, the CLI and the server.

``generate("Once upon a time", model="gpt2")`` tokenizes (a batch is left-padded so that
every row's last prompt token sits at the same column), runs the engine in
:mod:`bigmodel.decoding`, and decodes only the new tokens. ``stop`` strings end a row and
are cut from its text (as OpenAI's API does); ``stream`` yields text deltas that never
split a character and never show the beginning of a stop string that may still complete.
"""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..decoding import DecodeLoop, TextDeltas, parse_options
from ..decoding.options import SAMPLING_KNOBS, TEXT_OPTIONS
from ..decoding.runners import is_encoder_decoder
from ..decoding.search import beam_search
from ..decoding.stop_text import StopText
from ..devices import to_device
from ..errors import BigModelError, did_you_mean
from ..models.base import BigModel
from ..models.families import family_of
from .common import get_model, get_tokenizer

DEFAULT_MODEL = "tiny-gpt-en"  # shipped, so it works offline; "gpt2" is the hub one
QUANTIZE = ("int8",)
# Used when neither the caller nor the model's generation_config.json sets them.
FALLBACKS = {"max_new_tokens": 50}


@dataclass
class GenerationResult:
    """One continuation: its text and what the server reports about it."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) or "length"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=4)
def _prepared_by_name(name: str, dtype: str | None, quantize: str | None, compile: bool) -> BigModel:
    return _prepare(get_model(name, dtype=dtype), quantize, compile, copy_first=True)


def _prepare(model: BigModel, quantize: str | None, compile: bool, *, copy_first: bool) -> BigModel:
    if quantize is None and not compile:
        return model
    if copy_first:
        model = copy.deepcopy(model)
    if quantize is not None:
        from ..quantize import quantize_int8

        quantize_int8(model)
    if compile:
        from ..decoding.compiled import compile_for_decoding

        compile_for_decoding(model)
    return model


def load_generator(model: str | Path | BigModel = DEFAULT_MODEL, *, dtype: str | None = None,
                   quantize: str | None = None, compile: bool = False) -> BigModel:
    """The model, in ``dtype``, int8-quantized and/or compiled as asked (cached by name)."""
    if quantize is not None and quantize not in QUANTIZE:
        raise BigModelError(f"quantize must be one of {', '.join(QUANTIZE)}, got {quantize!r}")
    if dtype is not None:
        from ..hub import resolve_dtype

        resolve_dtype(dtype)
    if isinstance(model, BigModel):
        if dtype is not None:
            from ..hub import resolve_dtype

            model = copy.deepcopy(model).to(resolve_dtype(dtype))
            return _prepare(model, quantize, compile, copy_first=False)
        return _prepare(model, quantize, compile, copy_first=True)
    loaded = get_model(model, dtype=dtype)
    family = family_of(loaded)
    if not ((family is not None and family.causal) or is_encoder_decoder(loaded)):
        raise BigModelError(f"{model} is a {loaded.family} model; generation needs a GPT (or the Transformer)")
    return _prepared_by_name(str(model), dtype, quantize, compile)


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    if not all(isinstance(s, str) and s for s in stops):
        raise BigModelError(f"stop must be a non-empty string or a list of them, got {stop!r}")
    return stops


def _bad_words_ids(tokenizer: Any, words: list[str] | None) -> list[list[int]] | None:
    if not words:
        return None
    if isinstance(words, str) or not all(isinstance(w, str) and w.strip() for w in words):
        raise BigModelError(f"bad_words must be a list of non-empty strings, got {words!r}")
    ids = []
    for word in words:
        for form in (word, " " + word.lstrip()):
            encoded = tokenizer.encode(form, add_special_tokens=False)
            if encoded and encoded not in ids:
                ids.append(encoded)
    return ids


def _sampling_default(do_sample: bool | None, options: dict[str, Any]) -> bool | None:
    """Sample when asked, or when a sampling knob is set (temperature 0 means greedy); None
    leaves the choice to the model's generation_config (greedy when it has none)."""
    if do_sample is not None:
        return do_sample
    if options.get("temperature") == 0:
        return False
    return True if any(options.get(k) is not None for k in SAMPLING_KNOBS) else None


def _new_token_budget(max_new_tokens: int | None, max_length: int | None, prompt_width: int,
                      model: BigModel) -> int | None:
    """transformers' rule: max_new_tokens wins; else max_length counts the (padded) prompt too,
    or for an encoder-decoder the decoder's start token."""
    if max_length is None or max_new_tokens is not None:
        return max_new_tokens
    used = 1 if is_encoder_decoder(model) else prompt_width
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= used:
        raise BigModelError(f"max_length={max_length!r} leaves no room for new tokens after the prompt's {used}; "
                            f"give max_length > {used}, or max_new_tokens")
    return max_length - used


def continues_prompt(model: str | Path | BigModel = DEFAULT_MODEL) -> bool:
    """True for a decoder-only LM (its text continues the prompt); False for an encoder-decoder,
    whose text is a new sequence written from the prompt (a translation, a summary)."""
    return not is_encoder_decoder(get_model(model))


def _encode(tokenizer: Any, prompts: list[str], model: BigModel) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Token ids (B, T) and mask: left-padded for a decoder-only LM (each row ends at column T),
    right-padded for an encoder's source (its sinusoidal positions count from the first token)."""
    if not all(isinstance(p, str) for p in prompts):
        raise BigModelError("prompt must be a string or a list of strings")
    if not prompts:
        raise BigModelError("prompt is an empty list")
    rows = [tokenizer.encode(p, add_special_tokens=False) if p else [] for p in prompts]
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    for row in rows:
        if not row:
            if start is None:
                raise BigModelError("prompt is empty and the tokenizer has no BOS token to start from")
            row.append(start)  # an empty prompt starts from BOS (<|endoftext|> for GPT-2)
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (start or 0)
    right = is_encoder_decoder(model)
    ids = torch.tensor([r + [pad] * (width - len(r)) if right else [pad] * (width - len(r)) + r for r in rows],
                       device=model.device)
    if all(len(r) == width for r in rows):
        return ids, None
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) if right else [0] * (width - len(r)) + [1] * len(r)
                         for r in rows], device=model.device)
    return ids, mask


def text_options(given: dict[str, Any]) -> dict[str, Any]:
    """Every keyword of the text API: the ones ``given``, the rest at their defaults (do_sample
    None: decided by the knobs or the model); an unknown name is one BigModelError."""
    names = [f.name for f in TEXT_OPTIONS]
    for name in given:
        if name not in names:
            raise BigModelError(f"unknown generation option {name!r}{did_you_mean(name, names)}")
    defaults = {f.name: None if f.name == "do_sample" else f.default for f in TEXT_OPTIONS}
    return defaults | given


def _engine_options(kwargs: dict[str, Any], tokenizer: Any, stops: list[str]) -> dict[str, Any]:
    options = {k: v for k, v in kwargs.items() if v is not None}
    sample = _sampling_default(kwargs.get("do_sample"), kwargs)
    if sample is not None:
        options["do_sample"] = sample
    if tokenizer.eos_token_id is not None and "eos_token_id" not in options:
        options["eos_token_id"] = tokenizer.eos_token_id
    if stops:
        options["stop_strings"] = stops
        options["tokenizer"] = tokenizer
    return options


def generate_detailed(
    prompt: str | list[str],
    model: str | Path | BigModel = DEFAULT_MODEL,
    tokenizer: Any = None,
    *,
    stop: str | list[str] | None = None,
    bad_words: list[str] | None = None,
    dtype: str | None = None,
    quantize: str | None = None,
    compile: bool = False,
    skip_special_tokens: bool = True,
    device: str | torch.device | None = None,
    **options: Any,
) -> list[GenerationResult]:
    """Continuations of each prompt (num_return_sequences per prompt, in order), with counts.

    ``options`` are the decoding keywords of :data:`~bigmodel.decoding.options.TEXT_OPTIONS`
    (transformers' names: max_new_tokens, do_sample, temperature, top_k, top_p, num_beams ...).
    Sampling is on when ``do_sample`` is True, or when it is None and a sampling knob
    (temperature, top_k, top_p, min_p) is given; ``temperature=0`` is greedy. ``bad_words``
    are never generated (each word is banned as written and with a leading space).
    An option left out comes from the model's generation_config.json when it has one (the
    shipped tiny GPTs sample with theirs), else max_new_tokens is 50 and decoding greedy;
    ``do_sample=False`` is always the plain argmax.
    """
    options = text_options(options)
    lm = to_device(load_generator(model, dtype=dtype, quantize=quantize, compile=compile), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else lm, tokenizer)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    stops = _stops(stop)
    ids, mask = _encode(tok, prompts, lm)
    options["max_new_tokens"] = _new_token_budget(options["max_new_tokens"], options.pop("max_length"),
                                                  ids.shape[1], lm)
    options["bad_words_ids"] = _bad_words_ids(tok, bad_words)
    opts = parse_options(_engine_options(options, tok, stops), lm.config, defaults=lm.generation_config,
                         fallbacks=FALLBACKS)
    prompt_lens = ([int(n) for n in mask.sum(1).tolist()] if mask is not None else [ids.shape[1]] * len(prompts))
    # New tokens follow the prompt, or for an encoder-decoder the decoder's start token.
    first_new = 1 if is_encoder_decoder(lm) else ids.shape[1]
    per_prompt = opts.num_return_sequences
    if opts.num_beams > 1:
        out = beam_search(lm, ids, mask, opts)
        rows = out[:, first_new:].tolist()
        reasons = ["length"] * len(rows)
        eos = set(opts.eos_ids)
        for i, row in enumerate(rows):
            row = [t for t in row if t >= 0]  # finished beams end in fill (-1 without pad/EOS)
            if eos and any(t in eos for t in row):
                row = row[: next(j for j, t in enumerate(row) if t in eos) + 1]
                reasons[i] = "stop"
            rows[i] = row
    else:
        loop = DecodeLoop(lm, ids, mask, opts)
        for _ in loop:
            pass
        generated = loop.sequences[:, first_new:].tolist()
        rows = [row[:n] for row, n in zip(generated, loop.new_tokens, strict=True)]
        reasons = [r or "length" for r in loop.finish_reasons]
    results = []
    for i, row in enumerate(rows):
        reason = reasons[i]
        text = tok.decode(row, skip_special_tokens=skip_special_tokens)
        cutter = StopText(stops)
        kept, stopped = cutter.feed(text)
        if stopped:
            reason = "stop"
        else:
            kept += cutter.flush()
        results.append(GenerationResult(kept, prompt_lens[i // per_prompt], len(row), reason))
    return results


def _spell_out_options(function: Any) -> Any:
    """``function``'s signature with its ``**options`` spelled out as TEXT_OPTIONS' keywords
    (what help() and editors show), the list itself kept in one place."""
    signature = inspect.signature(function)
    kept = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    spelled = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
               for name, default in text_options({}).items()]
    function.__signature__ = signature.replace(parameters=kept + spelled)
    return function


_spell_out_options(generate_detailed)


def generate(prompt: str | list[str], model: str | Path | BigModel = DEFAULT_MODEL, tokenizer: Any = None,
             *, return_full_text: bool = False, **kwargs: Any) -> str | list[str]:
    """The continuation of ``prompt`` (a string), or one per prompt for a list.

    With num_return_sequences > 1 a single prompt gives a list of that many strings.
    Keywords: see :func:`generate_detailed`. As in transformers, ``return_full_text=True``
    puts the prompt before each continuation and ``max_length`` counts the prompt's tokens
    too (``max_new_tokens`` wins when both are given); ``device`` is cpu, cuda, mps or auto.
    """
    results = generate_detailed(prompt, model, tokenizer, **kwargs)
    texts = [r.text for r in results]
    if return_full_text:
        if not continues_prompt(model):
            raise BigModelError("return_full_text: an encoder-decoder writes a new text, not a continuation "
                                "of the prompt; leave it False")
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        per_prompt = len(texts) // len(prompts)
        texts = [prompts[i // per_prompt] + text for i, text in enumerate(texts)]
    if isinstance(prompt, str) and len(texts) == 1:
        return texts[0]
    return texts


def stream(prompt: str, model: str | Path | BigModel = DEFAULT_MODEL, tokenizer: Any = None, *,
           max_new_tokens: int | None = None, stop: str | list[str] | None = None, dtype: str | None = None,
           quantize: str | None = None, compile: bool = False, skip_special_tokens: bool = True,
           result: list[GenerationResult] | None = None, max_length: int | None = None,
           device: str | torch.device | None = None, **kwargs: Any) -> Iterator[str]:
    """Text deltas of the continuation of one prompt, as they are generated.

    The deltas concatenate to ``generate(prompt, ...)`` with the same options. Pass a list
    as ``result`` to receive the :class:`GenerationResult` when the stream ends.
    """
    if not isinstance(prompt, str):
        raise BigModelError("stream takes one prompt (a string)")
    if kwargs.get("num_beams", 1) != 1 or kwargs.get("num_return_sequences", 1) != 1:
        raise BigModelError("stream gives one continuation: num_beams and num_return_sequences must be 1")
    lm = to_device(load_generator(model, dtype=dtype, quantize=quantize, compile=compile), device)
    tok = get_tokenizer(model if not isinstance(model, BigModel) else lm, tokenizer)
    stops = _stops(stop)
    ids, _ = _encode(tok, [prompt], lm)
    max_new_tokens = _new_token_budget(max_new_tokens, max_length, ids.shape[1], lm)
    bad_words = _bad_words_ids(tok, kwargs.pop("bad_words", None))
    options = _engine_options(dict(max_new_tokens=max_new_tokens, bad_words_ids=bad_words, **kwargs), tok, stops)
    loop = DecodeLoop(lm, ids, None, parse_options(options, lm.config, defaults=lm.generation_config,
                                                   fallbacks=FALLBACKS))
    deltas = TextDeltas(tok, skip_special_tokens)
    cutter = StopText(stops)
    stopped = False
    for tokens in loop:
        text, stopped = cutter.feed(deltas.push(int(tokens[0])))
        if text:
            yield text
        if stopped:
            break
    if not stopped:
        text, stopped = cutter.feed(deltas.flush())
        if not stopped:
            text += cutter.flush()
        if text:
            yield text
    if result is not None:
        reason = "stop" if stopped else (loop.finish_reasons[0] or "length")
        result.append(GenerationResult(cutter.text[: cutter.sent], ids.shape[1], loop.new_tokens[0], reason))
