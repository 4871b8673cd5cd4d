"""Time estimates from a calibration (calibration.py) and the formulas (formulas.py).

A forward or training step is its FLOPs over the measured matmul rate plus the framework's
cost per call. Decoding one step of B tokens reads every weight once and the KV cache, so

    t_step ≈ t_fixed + L·t_layer + weight_bytes · s(B) + kv_bytes / bandwidth

with s(B) the measured seconds per weight byte of ``F.linear`` at batch B (interpolated).
"""

from __future__ import annotations

from ..models.shapes import ModelShape
from .calibration import Calibration
from .formulas import kv_cache_bytes, matmul_weights_per_token


def step_times(
    shape: ModelShape,
    params: dict[str, int],
    flops: dict[str, float],
    batch: int,
    seq_len: int,
    dtype: str,
    b: int,
    cal: Calibration,
) -> dict[str, float]:
    """Seconds per forward and training step, and per decoding step of a decoder."""
    rate = cal.matmul_flops.get(dtype, cal.matmul_flops["fp32"])
    if shape.reads_images:
        # FLOPs at the matmul rate only: the per-layer overhead was measured on a decoder.
        return {
            "forward_s": flops["forward_per_step"] / rate,
            "training_step_s": flops["training_per_step"] / rate,
        }
    layers = shape.n_layers
    overhead = cal.step_overhead_s + layers * cal.layer_overhead_s
    out = {
        "forward_s": flops["forward_per_step"] / rate + overhead,
        # backward ≈ 2 forwards of work and of framework calls
        "training_step_s": flops["training_per_step"] / rate + 3 * overhead,
    }
    if shape.is_decoder:
        bandwidth = cal.gemv_bandwidth.get(dtype, cal.gemv_bandwidth["fp32"])
        # Each step streams every weight once (the embedding lookup reads one row, the
        # output layer all of V·d) and the KV cache up to the mean position T/2.
        streamed = (params["with_head"] - params["embedding"] + shape.output_layer) * b
        kv_read = kv_cache_bytes(shape, batch, max(seq_len // 2, 1), b)
        per_byte = _linear_seconds_per_byte(cal, dtype, batch)
        if per_byte is not None:
            step = overhead + streamed * per_byte + kv_read / bandwidth
        else:  # a calibration without the batch curve: bandwidth or compute, whichever binds
            mean_flops = 2.0 * matmul_weights_per_token(shape, decoder_only=True) + sum(
                2 * s.n_layers * seq_len * s.d_model for s in shape.stacks if s.causal
            )
            step = overhead + max((streamed + kv_read) / bandwidth, batch * mean_flops / rate)
        out["decode_step_s"] = step
        out["decode_tokens_per_s"] = batch / step
    return out


def _linear_seconds_per_byte(cal: Calibration, dtype: str, batch: int) -> float | None:
    """Interpolate the measured (batch -> s/byte) curve; beyond it, time grows with B."""
    curve = cal.linear_s_per_byte.get(dtype) or cal.linear_s_per_byte.get("fp32")
    if not curve:
        return None
    points = sorted((int(k), v) for k, v in curve.items())
    if batch <= points[0][0]:
        return points[0][1]
    for (b0, s0), (b1, s1) in zip(points, points[1:], strict=False):
        if batch <= b1:
            return s0 + (s1 - s0) * (batch - b0) / (b1 - b0)
    b_last, s_last = points[-1]
    return s_last * batch / b_last


__all__ = ["step_times"]
