"""Looking at a network without training it: per-layer shapes, parameters and multiply-adds
(``summary``, layer_table.py), receptive fields (``receptive_field``, fields.py) and the input
shape both run on (``input_shape``, shapes.py)."""

from cnnkit.analysis.shapes import input_shape, parse_input
from cnnkit.analysis.fields import Field, FieldRow, ReceptiveFields, receptive_field
from cnnkit.analysis.layer_table import Summary, SummaryRow, summary

__all__ = [
    "Field",
    "FieldRow",
    "ReceptiveFields",
    "Summary",
    "SummaryRow",
    "input_shape",
    "parse_input",
    "receptive_field",
    "summary",
]
