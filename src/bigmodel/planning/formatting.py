"""A plan as text: one table, or several side by side; byte and count units."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .planner import Plan


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} TB"


def human_count(n: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:.0f}"


def _rows(p: Plan) -> list[tuple[str, str]]:
    s = p.settings
    rows: list[tuple[str, str]] = [
        ("family / architecture", f"{p.family} / {p.architecture}"),
        (
            "batch × seq_len, dtype",
            f"{s['batch_size']} × {s['seq_len']}, {s['dtype']}"
            if not s["image_size"]
            else f"{s['batch_size']} × {s['image_size']}² images, {s['dtype']}",
        ),
        ("parameters", f"{p.parameters['total']:,}"),
        ("  + head", f"{p.parameters['head']:,}"),
        ("  embedding", f"{p.parameters['embedding']:,}"),
        ("  trainable", f"{p.parameters['trainable']:,}"),
    ]
    for key, value in p.flops.items():
        rows.append((f"FLOPs {key.replace('_', ' ')}", human_count(value)))
    inf = p.memory["inference"]
    rows += [
        ("inference: weights", human_bytes(inf["weights"])),
        ("  KV cache", human_bytes(inf["kv_cache"])),
        ("  activations", human_bytes(inf["activations"])),
        ("  total", human_bytes(inf["total"])),
    ]
    tr = p.memory["training"]
    rows += [
        ("training: weights", human_bytes(tr["weights"])),
        ("  gradients", human_bytes(tr["gradients"])),
        (f"  optimizer ({s['optimizer']})", human_bytes(tr["optimizer"])),
        ("  saved activations", human_bytes(tr["activations"])),
        ("  saved activations, checkpointed", human_bytes(tr["activations_checkpointed"])),
        ("  peak", human_bytes(tr["total"])),
        ("  peak, checkpointed", human_bytes(tr["total_checkpointed"])),
    ]
    if p.time:
        labels = {
            "forward_s": "time: forward step",
            "training_step_s": "time: training step",
            "decode_step_s": "time: decode step",
            "decode_tokens_per_s": "decode tokens/s",
        }
        for key, value in p.time.items():
            rows.append(
                (labels.get(key, key), f"{value:.1f}" if key.endswith("per_s") else _seconds(value))
            )
    return rows


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def format_plans(plans: list[Plan]) -> str:
    """One plan as a table, or several side by side."""
    tables = [dict(_rows(p)) for p in plans]
    labels: list[str] = []
    for table in tables:
        labels += [label for label in table if label not in labels]
    headers = [p.model for p in plans]
    label_w = max(len(x) for x in labels)
    widths = [
        max(len(h), *(len(v) for v in t.values())) for h, t in zip(headers, tables, strict=True)
    ]
    lines = [
        " " * label_w + "  " + "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    ]
    for label in labels:
        cells = [t.get(label, "-") for t in tables]
        lines.append(
            label.ljust(label_w)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    for p in plans:
        for note in p.notes:
            prefix = f"{p.model}: " if len(plans) > 1 else ""
            lines.append(f"note: {prefix}{note}")
    return "\n".join(lines)


__all__ = ["format_plans", "human_bytes", "human_count"]
