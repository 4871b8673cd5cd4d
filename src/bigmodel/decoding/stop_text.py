"""Stop strings on decoded text, for streams: cut at the first one, hold back a possible start."""

from __future__ import annotations


class StopText:
    """Text of one slot, cut before the first stop string (OpenAI's rule).

    Text that might be the beginning of a stop string is held back until the next delta
    decides, so streamed pieces concatenate to exactly the non-streamed text.
    """

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.longest = max((len(s) for s in self.stops), default=0)
        self.text = ""
        self.sent = 0

    def feed(self, delta: str) -> tuple[str, bool]:
        """Append ``delta``; return (text safe to emit now, a stop string was found)."""
        self.text += delta
        if not self.stops:
            out, self.sent = self.text[self.sent:], len(self.text)
            return out, False
        start = max(0, self.sent - self.longest)
        hits = [i for i in (self.text.find(s, start) for s in self.stops) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            out, self.sent = self.text[self.sent:], len(self.text)
            return out, True
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.text)), hold, -1):
                if self.text.endswith(s[:k]):
                    hold = k
                    break
        safe = max(self.sent, len(self.text) - hold)
        out, self.sent = self.text[self.sent: safe], safe
        return out, False

    def flush(self) -> str:
        out, self.sent = self.text[self.sent:], len(self.text)
        return out
