"""A seq2seq task the project generates itself: dates as people write them -> ISO dates.

    "the twenty-third of March, 1987"  -> "1987-03-23"
    "Monday, March 23, 1987"           -> "1987-03-23"
    "23 MAR 1987"                      -> "1987-03-23"

Pairs are drawn from a seeded ``random.Random``, so a seed names a data set exactly. Dates
are split between training and held-out by a hash of the ISO date: a held-out date never
appears in the training set in any spelling, so accuracy on it measures generalization,
not memory.

The tokenizer is character level (one token per character, a fixed alphabet): a byte-pair
model with no merges, saved as an ordinary ``tokenizer.json`` that
``bigmodel.tokenization.load_tokenizer`` reads back.
"""

from __future__ import annotations

import datetime as dt
import random
import string
import zlib
from collections.abc import Callable
from pathlib import Path

from ..errors import BigModelError

__all__ = [
    "DATE_ALPHABET",
    "FORMATS",
    "SPECIAL_TOKENS",
    "char_tokenizer",
    "is_held_out",
    "make_pairs",
    "ordinal_words",
    "spell_date",
]

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2099, 12, 31)

_UNITS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = {2: "twenty", 3: "thirty"}
_ORDINAL_OF = {"one": "first", "two": "second", "three": "third", "five": "fifth",
               "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def ordinal_words(day: int) -> str:
    """1 -> "first", 23 -> "twenty-third", 30 -> "thirtieth" (days of a month only)."""
    if not 1 <= day <= 31:
        raise BigModelError(f"day must be in 1..31, got {day}")
    tens, units = divmod(day, 10)
    if day < 20:
        word = _UNITS[day]
        return _ORDINAL_OF.get(word, word + "th")
    if units == 0:
        return _TENS[tens][:-1] + "ieth"
    last = _UNITS[units]
    return f"{_TENS[tens]}-{_ORDINAL_OF.get(last, last + 'th')}"


def ordinal_suffix(day: int) -> str:
    """23 -> "23rd", 11 -> "11th"."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return str(day) + {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


def _weekday(d: dt.date) -> str:
    return WEEKDAYS[d.weekday()]


FORMATS: dict[str, Callable[[dt.date], str]] = {
    "words": lambda d: f"the {ordinal_words(d.day)} of {_month(d)}, {d.year}",
    "words_short": lambda d: f"{ordinal_words(d.day)} {_month(d)} {d.year}",
    "us": lambda d: f"{_month(d)} {d.day}, {d.year}",
    "us_ordinal": lambda d: f"{_month(d)} {ordinal_suffix(d.day)}, {d.year}",
    "us_abbrev": lambda d: f"{_month(d)[:3]}. {d.day}, {d.year}",
    "uk": lambda d: f"{d.day} {_month(d)} {d.year}",
    "uk_abbrev": lambda d: f"{d.day} {_month(d)[:3]} {d.year}",
    "uk_ordinal": lambda d: f"{ordinal_suffix(d.day)} {_month(d)} {d.year}",
    "weekday": lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",
    "weekday_words": lambda d: f"{_weekday(d)} the {ordinal_words(d.day)} of {_month(d)} {d.year}",
    "numeric_dots": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
}
_CASES: tuple[tuple[Callable[[str], str], float], ...] = ((str, 0.6), (str.lower, 0.3), (str.upper, 0.1))

# Every character a spelling above can produce; anything else encodes as [UNK].
DATE_ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits + " ,.-"
SPECIAL_TOKENS = ("[PAD]", "[BOS]", "[EOS]", "[UNK]")  # ids 0, 1, 2, 3


def spell_date(d: dt.date, rng: random.Random, formats: tuple[str, ...] | None = None) -> str:
    """One spelling of ``d``: a random format among ``formats`` (all by default), random case."""
    names = formats or tuple(FORMATS)
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise BigModelError(f"unknown date format {unknown[0]!r}; choose from {', '.join(FORMATS)}")
    text = FORMATS[rng.choice(names)](d)
    case = rng.choices([c for c, _ in _CASES], weights=[w for _, w in _CASES])[0]
    return case(text)


def is_held_out(d: dt.date, every: int = 10) -> bool:
    """True for the ~1/``every`` of all dates kept out of training (a hash of the date)."""
    return zlib.crc32(d.isoformat().encode()) % every == 0


def make_pairs(
    n: int,
    *,
    seed: int = 0,
    split: str = "train",
    formats: tuple[str, ...] | None = None,
) -> list[tuple[str, str]]:
    """``n`` (spelled date, ISO date) pairs from dates in ``split`` ("train" or "test")."""
    if split not in ("train", "test"):
        raise BigModelError(f"split must be 'train' or 'test', got {split!r}")
    if n < 0:
        raise BigModelError(f"n must be >= 0, got {n}")
    rng = random.Random(f"dates-{split}-{seed}")
    span = (LAST_DATE - FIRST_DATE).days
    want_held_out = split == "test"
    pairs = []
    while len(pairs) < n:
        d = FIRST_DATE + dt.timedelta(days=rng.randint(0, span))
        if is_held_out(d) != want_held_out:
            continue
        pairs.append((spell_date(d, rng, formats), d.isoformat()))
    return pairs


def char_tokenizer():  # -> bigmodel.tokenization.Tokenizer
    """The character-level tokenizer for dates: [PAD]=0 [BOS]=1 [EOS]=2 [UNK]=3, then one id
    per character of ``DATE_ALPHABET``. ``encode`` adds no special tokens."""
    from tokenizers import Tokenizer as Backend
    from tokenizers import decoders, models

    from ..tokenization import Tokenizer

    vocab = {token: i for i, token in enumerate((*SPECIAL_TOKENS, *DATE_ALPHABET))}
    # A byte-pair model without merges is exactly "one token per known character".
    backend = Backend(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    backend.decoder = decoders.Fuse()
    return Tokenizer(
        backend,
        special_tokens={"pad": "[PAD]", "bos": "[BOS]", "eos": "[EOS]", "unk": "[UNK]"},
        model_max_length=64,
        name_or_path="dates-char",
    )


def save_char_tokenizer(directory: str | Path) -> Path:
    """Write the tokenizer files (tokenizer.json + configs) into ``directory``."""
    return char_tokenizer().save_pretrained(directory)
