"""Plan before you run: parameters, FLOPs, memory and time from a config alone."""

from .planner import (
    Calibration,
    ModelShape,
    Plan,
    calibrate,
    calibration_path,
    count_parameters,
    fits_in_memory,
    human_bytes,
    load_calibration,
    model_shape,
    parse_memory,
    plan,
)

__all__ = [
    "Calibration",
    "ModelShape",
    "Plan",
    "calibrate",
    "calibration_path",
    "count_parameters",
    "fits_in_memory",
    "human_bytes",
    "load_calibration",
    "model_shape",
    "parse_memory",
    "plan",
]
