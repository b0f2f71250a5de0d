"""Looking at a network without training it: per-layer shapes, parameters and multiply-adds
(``summary``, layer_table.py), receptive fields (``receptive_field``, fields.py) and the input
shape both run on (``input_shape``, shapes.py), and how invariant a trained network is to
translation (``shift_consistency``, shift.py)."""

from cnnkit.analysis.shapes import input_shape, parse_input
from cnnkit.analysis.fields import Field, FieldRow, ReceptiveFields, receptive_field
from cnnkit.analysis.shift import SHIFT_MODES, ShiftResult, shift_consistency, shift_image
from cnnkit.analysis.layer_table import Summary, SummaryRow, WeightSharing, summary

__all__ = [
    "SHIFT_MODES",
    "ShiftResult",
    "Field",
    "FieldRow",
    "ReceptiveFields",
    "Summary",
    "SummaryRow",
    "WeightSharing",
    "input_shape",
    "parse_input",
    "receptive_field",
    "shift_consistency",
    "shift_image",
    "summary",
]
