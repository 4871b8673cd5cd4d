"""The decoding options, checked once: every mistake is one BigModelError naming the option.

The names and meanings are transformers' (``max_new_tokens``, ``do_sample``, ``top_k`` ...),
so code moves across unchanged. Two conveniences differ: ``temperature=0`` means greedy,
and ``seed`` makes sampling reproducible without touching the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from .. import validation
from ..errors import BigModelError, did_you_mean

if TYPE_CHECKING:
    import torch


def _option(default: Any = None, *, help: str = "", flag: bool = True, short: str = "",
            sampling: bool = False, recipe: bool = False, saved: bool = False) -> Any:
    """A field of :class:`GenerationOptions` and where else it shows.

    help      the keyword is the text API's (``bm.generate``) and, with ``flag``, the CLI's
              ``--option-name`` (``short`` its one-letter form, e.g. ``-k``) with this help
    sampling  setting it turns sampling on when do_sample is left to be decided
    recipe    part of the model's decoding recipe (left out when the caller picks greedy/beams)
    saved     a model's generation_config.json may set it (see model_defaults.py)
    """
    metadata = {"help": help, "flag": flag and bool(help), "short": short, "sampling": sampling,
                "recipe": recipe, "saved": saved}
    if isinstance(default, list):
        return field(default_factory=list, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class GenerationOptions:
    """Every decoding keyword, once: the other lists (the model's generation_config fields, the
    CLI flags, the text API's keywords) are read from these fields' metadata."""

    max_new_tokens: int | None = _option(help="tokens to add", flag=False, saved=True)
    max_length: int | None = _option(help="tokens in all, the prompt's included (max_new_tokens wins)",
                                     flag=False, saved=True)
    min_new_tokens: int | None = _option(help="no end-of-text before this many new tokens", recipe=True,
                                         saved=True)
    do_sample: bool = _option(False, help="sample instead of taking the argmax", flag=False, recipe=True,
                              saved=True)
    temperature: float | None = _option(help="divide the logits by T (0 = greedy)", sampling=True, recipe=True,
                                        saved=True)
    top_k: int | None = _option(help="sample from the k most likely tokens (0 = off)", short="-k",
                                sampling=True, recipe=True, saved=True)
    top_p: float | None = _option(help="nucleus sampling: smallest set with mass >= p", sampling=True,
                                  recipe=True, saved=True)
    min_p: float | None = _option(help="drop tokens below min_p x the top probability", sampling=True,
                                  recipe=True, saved=True)
    repetition_penalty: float | None = _option(help="CTRL penalty for seen tokens (>1)", recipe=True, saved=True)
    no_repeat_ngram_size: int | None = _option(help="never repeat an n-gram of this size", recipe=True,
                                               saved=True)
    bad_words_ids: list[list[int]] | None = _option()
    num_beams: int = _option(1, help="beam search with this many beams", saved=True)
    length_penalty: float = _option(1.0, help="beam score / length**this", saved=True)
    early_stopping: bool | str = _option(False, help="true, false or never", saved=True)
    num_return_sequences: int = _option(1, help="continuations per prompt")
    eos_token_id: int | list[int] | None = _option(saved=True)
    pad_token_id: int | None = _option(saved=True)
    forced_eos_token_id: int | list[int] | None = _option(saved=True)
    seed: int | None = _option(help="seed for reproducible sampling")
    generator: torch.Generator | None = _option()
    max_time: float | None = _option(help="stop after this many seconds")
    stop_strings: list[str] | None = _option()
    tokenizer: Any = _option()
    streamer: Any = _option()
    use_cache: bool = _option(True)
    logits_processor: list[Any] = _option([])
    decoder_start_token_id: int | None = _option(saved=True)

    @property
    def eos_ids(self) -> list[int]:
        if self.eos_token_id is None:
            return []
        return [self.eos_token_id] if isinstance(self.eos_token_id, int) else list(self.eos_token_id)


OPTION_FIELDS = fields(GenerationOptions)
OPTION_NAMES = [f.name for f in OPTION_FIELDS]
# The keywords of the text API (bm.generate) and, where flagged, the CLI's flags.
TEXT_OPTIONS = [f for f in OPTION_FIELDS if f.metadata["help"]]
FLAG_OPTIONS = [f for f in TEXT_OPTIONS if f.metadata["flag"]]
# Knobs that mean "sample" when do_sample is left undecided (temperature 0 excepted).
SAMPLING_KNOBS = tuple(f.name for f in OPTION_FIELDS if f.metadata["sampling"])
# The model's decoding recipe: left out as a whole when the caller picks the decoding
# (greedy or beams), so that do_sample=False / --greedy is the plain argmax.
RECIPE = tuple(f.name for f in OPTION_FIELDS if f.metadata["recipe"])
SAVED_OPTIONS = [f for f in OPTION_FIELDS if f.metadata["saved"]]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def picks_own_decoding(given: dict[str, Any]) -> bool:
    """True when the caller chose greedy (do_sample=False, temperature=0) or beam search."""
    beams = given.get("num_beams", 1)
    return (given.get("do_sample") is False or given.get("temperature") == 0
            or (_is_int(beams) and beams > 1))


def with_model_defaults(given: dict[str, Any], defaults: Any = None,
                        fallbacks: dict[str, Any] | None = None) -> dict[str, Any]:
    """``given`` (what the caller set), then the model's generation_config for every other
    option, then ``fallbacks`` (a face's own defaults, e.g. 50 new tokens).

    ``defaults`` is a :class:`~bigmodel.decoding.model_defaults.GenerationConfig` or a dict.
    """
    merged = dict(given)
    if defaults is not None:
        values = defaults.to_dict() if hasattr(defaults, "to_dict") else dict(defaults)
        own = picks_own_decoding(given)
        for name, value in values.items():
            if name in OPTION_NAMES and name not in merged and value is not None and not (own and name in RECIPE):
                merged[name] = value
    for name, value in (fallbacks or {}).items():
        merged.setdefault(name, value)
    return merged


def parse_options(kwargs: dict[str, Any], model_config: Any = None, *, defaults: Any = None,
                  fallbacks: dict[str, Any] | None = None) -> GenerationOptions:
    """Options from keyword arguments; unknown names and bad values are BigModelErrors.

    An option left out (or None) comes from ``defaults``, the model's generation_config
    (see :func:`with_model_defaults`), else from ``fallbacks``. Defaults for EOS / pad /
    start tokens then come from the model's config.
    """
    for name in kwargs:
        if name not in OPTION_NAMES:
            raise BigModelError(f"unknown generation option {name!r}{did_you_mean(name, OPTION_NAMES)}")
    given = {k: v for k, v in kwargs.items() if v is not None or k in ("eos_token_id",)}
    given = with_model_defaults(given, defaults, fallbacks)
    opts = GenerationOptions(**given)
    if "eos_token_id" not in given and model_config is not None:
        opts.eos_token_id = getattr(model_config, "eos_token_id", None)
    if opts.pad_token_id is None and model_config is not None:
        opts.pad_token_id = getattr(model_config, "pad_token_id", None)
    if opts.pad_token_id is None and opts.eos_ids:
        opts.pad_token_id = opts.eos_ids[0]
    if opts.decoder_start_token_id is None and model_config is not None:
        opts.decoder_start_token_id = getattr(model_config, "decoder_start_token_id", None) or getattr(
            model_config, "bos_token_id", None)
    _check(opts)
    return opts


def _check(o: GenerationOptions) -> None:
    for check in (_check_lengths, _check_sampling, _check_penalties, _check_beams, _check_token_ids,
                  _check_stopping):
        check(o)


def _bad(o: GenerationOptions, name: str, expected: str) -> BigModelError:
    return BigModelError(f"{name} must be {expected}, got {getattr(o, name)!r}")


def _check_lengths(o: GenerationOptions) -> None:
    if o.max_new_tokens is not None and (not _is_int(o.max_new_tokens) or o.max_new_tokens < 0):
        raise _bad(o, "max_new_tokens", "an integer >= 0")
    if o.max_length is not None and (not _is_int(o.max_length) or o.max_length < 1):
        raise _bad(o, "max_length", "a positive integer")
    if o.min_new_tokens is not None and (not _is_int(o.min_new_tokens) or o.min_new_tokens < 0):
        raise _bad(o, "min_new_tokens", "an integer >= 0")


def _check_sampling(o: GenerationOptions) -> None:
    if not isinstance(o.do_sample, bool):
        raise _bad(o, "do_sample", "True or False")
    if o.temperature is not None:
        if not _is_number(o.temperature) or not 0 <= o.temperature < float("inf"):
            raise _bad(o, "temperature", "a finite number >= 0 (0 means greedy)")
        # Below MIN_TEMPERATURE sampling is greedy (its T -> 0 limit); logits / T would overflow.
        if validation.temperature(o.temperature) == 0:
            o.do_sample = False
            o.temperature = None
    if o.top_k is not None and (not _is_int(o.top_k) or o.top_k < 0):
        raise _bad(o, "top_k", "an integer >= 0 (0 switches it off)")
    if o.top_p is not None and (not _is_number(o.top_p) or not 0 < o.top_p <= 1):
        raise _bad(o, "top_p", "a number in (0, 1]")
    if o.min_p is not None and (not _is_number(o.min_p) or not 0 <= o.min_p <= 1):
        raise _bad(o, "min_p", "a number in [0, 1]")


def _check_penalties(o: GenerationOptions) -> None:
    if o.repetition_penalty is not None and (not _is_number(o.repetition_penalty) or o.repetition_penalty <= 0
                                             or not math.isfinite(o.repetition_penalty)):
        raise _bad(o, "repetition_penalty", "a finite number > 0 (1 means no penalty)")
    if o.no_repeat_ngram_size is not None and (not _is_int(o.no_repeat_ngram_size) or o.no_repeat_ngram_size < 0):
        raise _bad(o, "no_repeat_ngram_size", "an integer >= 0")
    if o.bad_words_ids is not None:
        ok = isinstance(o.bad_words_ids, Sequence) and all(
            isinstance(w, Sequence) and len(w) > 0 and all(_is_int(t) and t >= 0 for t in w)
            for w in o.bad_words_ids)
        if not ok or len(o.bad_words_ids) == 0:
            raise _bad(o, "bad_words_ids", "a non-empty list of non-empty lists of token ids")


def _check_beams(o: GenerationOptions) -> None:
    if not _is_int(o.num_beams) or o.num_beams < 1:
        raise _bad(o, "num_beams", "an integer >= 1")
    if not _is_number(o.length_penalty) or not math.isfinite(o.length_penalty):
        raise _bad(o, "length_penalty", "a finite number")
    if o.early_stopping not in (True, False, "never"):
        raise _bad(o, "early_stopping", 'True, False or "never"')
    if not _is_int(o.num_return_sequences) or o.num_return_sequences < 1:
        raise _bad(o, "num_return_sequences", "an integer >= 1")
    if o.num_beams > 1 and o.num_return_sequences > o.num_beams:
        raise BigModelError(f"num_return_sequences={o.num_return_sequences} must be <= num_beams={o.num_beams}")
    if o.num_beams == 1 and not o.do_sample and o.num_return_sequences > 1:
        raise BigModelError("num_return_sequences > 1 needs do_sample=True or num_beams >= num_return_sequences "
                            "(greedy decoding gives one answer)")


def _check_token_ids(o: GenerationOptions) -> None:
    for name in ("eos_token_id", "forced_eos_token_id"):
        value = getattr(o, name)
        if value is not None and not (_is_int(value) and value >= 0) and not (
                isinstance(value, Sequence) and all(_is_int(v) and v >= 0 for v in value)):
            raise _bad(o, name, "a token id or a list of token ids")
    if o.pad_token_id is not None and not (_is_int(o.pad_token_id) and o.pad_token_id >= 0):
        raise _bad(o, "pad_token_id", "a token id")


def _check_stopping(o: GenerationOptions) -> None:
    if o.seed is not None:
        validation.seed(o.seed)
    if o.max_time is not None and (not _is_number(o.max_time) or not 0 < o.max_time < math.inf):
        raise _bad(o, "max_time", "a finite number of seconds > 0")
    if o.stop_strings is not None:
        if isinstance(o.stop_strings, str):
            o.stop_strings = [o.stop_strings]
        if not all(isinstance(s, str) and s for s in o.stop_strings):
            raise _bad(o, "stop_strings", "a non-empty string or a list of them")
        if o.tokenizer is None:
            raise BigModelError("stop_strings needs the tokenizer too: pass tokenizer=...")
    if o.streamer is not None and o.num_beams > 1:
        raise BigModelError("streamer works with greedy decoding and sampling, not with num_beams > 1")
