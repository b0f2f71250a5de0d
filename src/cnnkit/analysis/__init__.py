"""Looking at a network without training it: per-layer shapes, parameters and multiply-adds
(``summary``), and receptive fields (``receptive_field``)."""

from cnnkit.analysis.input_shape import input_shape, parse_input
from cnnkit.analysis.receptive_field import Field, FieldRow, ReceptiveFields, receptive_field
from cnnkit.analysis.summary import Summary, SummaryRow, summary

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
