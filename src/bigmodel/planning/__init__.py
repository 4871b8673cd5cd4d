"""Plan before you run: parameters, FLOPs, memory and time from a config alone.

The parts: sources.py (a preset, folder, config or model -> its shape), formulas.py
(parameters, FLOPs, memory), calibration.py (this machine's speeds, cached), timing.py (time
estimates), planner.py (the plan), budget.py (what fits in memory), formatting.py (text).
"""

from ..models.shapes import ModelShape
from .budget import fits_in_memory, parse_memory
from .calibration import Calibration, calibrate, calibration_path, load_calibration
from .formatting import format_plans, human_bytes, human_count
from .planner import Plan, count_parameters, plan
from .sources import model_shape, shape_from_config

__all__ = [
    "Calibration",
    "ModelShape",
    "Plan",
    "calibrate",
    "calibration_path",
    "count_parameters",
    "fits_in_memory",
    "format_plans",
    "human_bytes",
    "human_count",
    "load_calibration",
    "model_shape",
    "parse_memory",
    "plan",
    "shape_from_config",
]
