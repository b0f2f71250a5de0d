"""Figures and the HTML report of a training run.

Plots take numpy arrays (torch tensors are accepted and copied to numpy), render with
matplotlib's Agg canvas without touching pyplot's global state, and write PNG files
atomically. ``write_report`` embeds them in one self-contained, offline HTML page.
"""

from cnnkit.viz.confusion import plot_confusion_matrix
from cnnkit.viz.curves import plot_lr_schedule, plot_metric_curves, plot_training_curves
from cnnkit.viz.grids import plot_filters, plot_image_grid
from cnnkit.viz.landscape import plot_loss_contour, plot_loss_line, plot_loss_surface_3d
from cnnkit.viz.report import ReportSection, render_report, write_report
from cnnkit.viz.robustness import (
    plot_adversarial_grid,
    plot_destruction_rates,
    plot_robustness_comparison,
    plot_robustness_curves,
)
from cnnkit.viz.tables import (
    Table,
    confusion_table,
    epoch_table,
    format_duration,
    key_value_table,
    per_class_table,
)

__all__ = [
    "plot_training_curves",
    "plot_metric_curves",
    "plot_lr_schedule",
    "plot_confusion_matrix",
    "plot_filters",
    "plot_image_grid",
    "plot_loss_line",
    "plot_loss_contour",
    "plot_loss_surface_3d",
    "plot_adversarial_grid",
    "plot_robustness_curves",
    "plot_robustness_comparison",
    "plot_destruction_rates",
    "ReportSection",
    "render_report",
    "write_report",
    "Table",
    "key_value_table",
    "epoch_table",
    "per_class_table",
    "confusion_table",
    "format_duration",
]
