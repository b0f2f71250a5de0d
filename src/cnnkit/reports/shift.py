"""``cnnkit analysis shift``'s page: each model's predictions under every shift of up to N pixels,
circular and zero-padded (Azulay & Weiss 2019; Zhang 2019), in a table, a figure and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from cnnkit.analysis.shift import ShiftResult, shift_consistency
from cnnkit.progress import Progress
from cnnkit.reports.pages import OutputFolder, write_json

__all__ = ["LEGEND", "ShiftStudy", "write_shift"]

_EXAMPLES = 5  # images whose probability curves the figure draws

LEGEND = ("accuracy: unshifted; mean, worst: over the shifts; consistency: two different shifts get the same class "
          "(Zhang 2019); stable: same class at every shift; flips: a one-pixel step changes the class; jagged: mean "
          "change of the true class's probability over such a step (Azulay & Weiss 2019).")


@dataclass(frozen=True)
class ShiftStudy:
    """One model to measure: its label in the table, the opened Run, and its test images."""

    label: str
    run: Any
    x: Tensor
    y: Tensor


def write_shift(output: OutputFolder, studies: Sequence[ShiftStudy], *, max_shift: int, modes: Sequence[str],
                progress: Progress | None = None) -> list[tuple[str, ...]]:
    """Measure every study in every mode, write shift.json, shift.png and index.html; return the table's rows."""
    from cnnkit.viz.report import ReportSection, write_report
    from cnnkit.viz.shift import plot_shift

    total = len(studies) * len(modes) * (2 * max_shift + 1) ** 2
    results: list[tuple[ShiftStudy, ShiftResult]] = []
    for study in studies:
        for mode in modes:
            offset = len(results) * (2 * max_shift + 1) ** 2
            report = None if progress is None else (lambda done, _t, o=offset: progress(o + done, total))
            results.append((study, shift_consistency(study.run.model, study.x, study.y, max_shift=max_shift,
                                                     mode=mode, progress=report)))
    rows = [("model", "border", "images", "accuracy", "mean", "worst", "consistency", "stable", "flips", "jagged")]
    for study, result in results:
        s = result.summary()
        rows.append((study.label, result.mode, str(s["images"]), f"{s['accuracy_unshifted']:.1%}",
                     f"{s['accuracy_mean']:.1%}", f"{s['accuracy_worst']:.1%}", f"{s['consistency']:.1%}",
                     f"{s['stable']:.1%}", f"{s['flip_rate']:.1%}", f"{s['jaggedness']:.3f}"))
    first_study, first = results[0]
    c = first.centre
    examples = first.true_prob[:_EXAMPLES, c, :]  # (k, S): along dx at dy = 0
    accuracy = {f"{study.label}, {result.mode}": result.accuracy[c] for study, result in results}
    text = (LEGEND + "\n\n"
            f"Every shift (dy, dx) with |dy|, |dx| <= {max_shift} pixels of each test image: circular (rolled round, "
            "nothing leaves the frame) and zeros (content moves, black fills in). Consistency (Zhang, 2019) is the "
            "probability that two different shifts of an image get the same class, computed over all pairs; "
            "'1-px step flips class' is how often moving one pixel changes the top-1 class, and jaggedness the mean "
            "change of the true class's probability over such a step (Azulay & Weiss, 2019). A network built "
            "only from convolutions would be equivariant; subsampling and the flattening classifier break it.")
    with output as folder:
        write_json(folder / "shift.json", {"max_shift": max_shift, "results": [
            {"model": study.label, "architecture": study.run.info.architecture,
             "trained": study.run.path is not None, **result.summary()} for study, result in results]})
        png = plot_shift(first.shifts, examples, accuracy, first.agreement, folder / "shift.png",
                         example_title=f"{first_study.label}, {first.mode}: {len(examples)} images",
                         agreement_title=f"same class as unshifted\n({first_study.label}, {first.mode})")
        write_report(folder / "index.html", title="cnnkit analysis shift",
                     subtitle=", ".join(study.label for study in studies),
                     highlights=tuple((f"{study.label} {result.mode}", f"{result.consistency:.1%} consistent")
                                      for study, result in results[:4]),
                     sections=[ReportSection("Shift invariance", images=(Path(png),), text=text, table=tuple(rows))])
    return rows
