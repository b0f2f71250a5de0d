"""The lecture's part on building CNNs, as figures: weight sharing counted, the receptive field growing
through a vanilla stack, LeNet-5 (LeCun et al., 1998) at work, the classic architectures' parameter
counts, and how much shift invariance the stack really buys (Azulay & Weiss 2019; Zhang 2019)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from torch import nn

from cnnkit.lecture.catalog import Figure, lecture_figure
from cnnkit.lecture.context import LectureContext
from cnnkit.viz._figure import SMALL_FONT, TITLE_FONT, new_figure, save_figure, style_axes

__all__: list[str] = []


@lecture_figure("cnns", "weight-sharing", "Locally connected against shared weights")
def weight_sharing(context: LectureContext, path: Path) -> Figure:
    """Weight sharing: a convolution's weights beside an unshared (locally connected) and a dense layer's."""
    from cnnkit.analysis import summary
    from cnnkit.layers import LocallyConnected2d
    from cnnkit.models import create_model

    # A locally connected layer whose kernels are all one convolution's kernel computes that convolution.
    torch.manual_seed(context.seed)
    conv = nn.Conv2d(1, 6, 5)
    local = LocallyConnected2d(1, 6, 28, 5)
    with torch.no_grad():
        local.weight.copy_(conv.weight.expand_as(local.weight))
        local.bias.copy_(conv.bias[:, None, None].expand_as(local.bias))
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        error = float((local(x) - conv(x)).abs().max())

    counts = {}
    for name, size in (("lenet5", 28), ("alexnet", 224), ("vgg16", 224)):
        with torch.device("meta"):
            sharing = summary(create_model(name, input_size=size), size).sharing
        counts[name] = (sharing.shared, sharing.local, sharing.dense)
    fig = new_figure(10.5, 3.8)
    ax = fig.subplots()
    kinds = ("shared (convolution)", "locally connected", "fully connected")
    colours = ("#2f6fd0", "#e07a10", "#c0392b")
    positions = np.arange(len(counts))
    for k, (kind, colour) in enumerate(zip(kinds, colours)):
        values = [counts[name][k] for name in counts]
        bars = ax.bar(positions + (k - 1) * 0.27, values, width=0.26, color=colour, label=kind)
        for bar, value in zip(bars, values):
            ax.annotate(_short(value), (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                        fontsize=SMALL_FONT - 1, xytext=(0, 2), textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(positions, [f"{name}'s convolutions" for name in counts])
    ax.set_ylabel("weights (biases aside)")
    ax.set_title("the same input and output shapes, three ways to connect them", fontsize=TITLE_FONT)
    ax.legend(fontsize=SMALL_FONT, frameon=False, loc="upper left")
    style_axes(ax)
    save_figure(fig, path)
    shared, local_count, dense = counts["alexnet"]
    caption = (f"Weights of every convolution of each network as it is (shared), as a locally connected layer with one "
               f"kernel bank per output position, and as a fully connected layer between the same shapes (cnnkit "
               f"summary's counts). AlexNet's convolutions hold {shared:,} weights; unshared they would need "
               f"{local_count:,} ({local_count / shared:,.0f}x), fully connected {dense:,} ({dense / shared:,.0f}x). "
               f"A LocallyConnected2d whose 576 kernels are all set to one Conv2d's kernel gives the convolution's "
               f"output to {error:.1e}.")
    return Figure(caption, {"counts": {n: dict(zip(("shared", "local", "dense"), c)) for n, c in counts.items()},
                            "local_equals_conv_max_error": error})


def _short(value: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g}{unit}"
    return str(value)


def _vanilla_stack() -> nn.Sequential:
    """The lecture's stage three times: convolution (3x3, with bias) -> ReLU -> subsampling S_2."""
    layers: list[nn.Module] = []
    for stage in range(3):
        layers += [nn.Conv2d(1 if stage == 0 else 4, 4, 3, padding=1), nn.ReLU(),
                   nn.MaxPool2d(kernel_size=1, stride=2)]  # a 1x1 max pool with stride 2 is S_2
    return nn.Sequential(*layers)


@lecture_figure("cnns", "receptive-field", "The receptive field grows through conv, bias, ReLU, subsampling")
def receptive_field_growth(context: LectureContext, path: Path) -> Figure:
    """Receptive field r, from the field recursion (r += (k - 1) * jump; jump *= stride), beside the gradient's support."""
    from cnnkit.analysis import receptive_field

    torch.manual_seed(context.seed)
    stack = _vanilla_stack()
    with torch.no_grad():  # positive weights, so no unit of the field cancels and the support shows all of it
        for module in stack:
            if isinstance(module, nn.Conv2d):
                module.weight.uniform_(0.05, 1.0)
                module.bias.fill_(0.1)
    size = 33
    rows = {row.name: row for row in receptive_field(stack, (1, size, size)).rows}
    measured, stated = [], []
    fig = new_figure(12.5, 3.6)
    axes = fig.subplots(1, 6)
    for ax, index in zip(axes, (1, 2, 4, 5, 7, 8)):  # after each ReLU and each S_2
        name = str(index)  # the layer's name in the Sequential, as the field tracker reports it
        x = torch.full((1, 1, size, size), 0.5, requires_grad=True)
        out = stack[: index + 1](x)  # (1, 4, h, w)
        h, w = out.shape[-2:]
        out[0, :, h // 2, w // 2].sum().backward()
        magnitude = x.grad[0, 0].abs().numpy()
        support = magnitude > 0
        rows_hit, cols_hit = np.nonzero(support)
        side = int(max(rows_hit.max() - rows_hit.min() + 1, cols_hit.max() - cols_hit.min() + 1))
        r = max(rows[name].field.r)
        measured.append(side)
        stated.append(r)
        crop = slice(size // 2 - 9, size // 2 + 10)  # the central 19x19 pixels, where every field lies
        ax.imshow(np.sqrt(magnitude / magnitude.max())[crop, crop], cmap="Greys", vmin=0, vmax=1.2)  # sqrt: edges show
        ax.add_patch(_box(rows_hit.min() - crop.start, cols_hit.min() - crop.start, r))
        label = "conv + bias + ReLU" if isinstance(stack[index], nn.ReLU) else "then S_2"
        ax.set_title(f"stage {index // 3 + 1}: {label}\nr = {r}, jump = {rows[name].field.jump[0]:g}",
                     fontsize=SMALL_FONT)
        ax.set_axis_off()
    save_figure(fig, path)
    caption = ("Three stages of conv 3x3 (with bias) -> ReLU -> subsampling S_2 on a 33x33 input. Each panel shows "
               "how strongly the centre output unit depends on each input pixel (|gradient|, square-root scale: the "
               "centre counts most, as more paths lead through it) and the square of side r "
               "that the receptive-field recursion predicts (r grows by (k - 1) x jump per convolution; S_2 doubles "
               f"the jump). Predicted r: {', '.join(map(str, stated))}; measured support: "
               f"{', '.join(map(str, measured))} pixels.")
    return Figure(caption, {"receptive_field": stated, "gradient_support": measured})


def _box(top: int, left: int, side: int):  # type: ignore[no-untyped-def]
    from matplotlib.patches import Rectangle

    return Rectangle((left - 0.5, top - 0.5), side, side, fill=False, edgecolor="#e07a10", linewidth=1.8)


@lecture_figure("cnns", "lenet-maps", "LeNet-5's feature maps")
def lenet_maps(context: LectureContext, path: Path) -> Figure:
    """LeNet-5 (LeCun et al., 1998) on one test image: each layer's feature maps and the class probabilities."""
    from cnnkit.explain.pictures import feature_maps

    run = context.run()
    x, y = context.images(1, seed=context.seed + 3)
    layers = {"features.1": "C1: conv 5x5 + ReLU", "features.2": "S2: max pool 2x2", "features.4": "C3: conv 5x5 + ReLU",
              "features.5": "S4: max pool 2x2"}
    maps = {name: feature_maps(run.model, x, name)[0].cpu() for name in layers}  # (K, h, w) each
    with torch.no_grad():
        probs = run.model(x).softmax(1)[0].cpu()
    classes = context.classes()
    fig = new_figure(13.0, 4.2)
    grid = fig.add_gridspec(1, 6, width_ratios=(1.2, 1.0, 1.0, 1.2, 1.2, 1.5))
    ax = fig.add_subplot(grid[0, 0])
    ax.imshow(x[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"input: {classes[int(y)]}\n{x.shape[1]} x {x.shape[2]}x{x.shape[3]}", fontsize=SMALL_FONT)
    ax.set_axis_off()
    for column, (name, title) in enumerate(layers.items(), start=1):
        m = maps[name].numpy()
        ax = fig.add_subplot(grid[0, column])
        ax.imshow(_mosaic(m, 2 if m.shape[0] <= 6 else 4), cmap=colormaps["magma"].with_extremes(bad="white"), vmin=0,
                  vmax=float(m.max()) or 1.0)
        ax.set_title(f"{title}\n{m.shape[0]} x {m.shape[1]}x{m.shape[2]}", fontsize=SMALL_FONT)
        ax.set_axis_off()
    bars = fig.add_subplot(grid[0, 5])
    order = np.arange(len(classes))
    bars.barh(order, probs.numpy(), color=["#e07a10" if i == int(y) else "#2f6fd0" for i in order])
    bars.set_yticks(order, classes, fontsize=SMALL_FONT - 1)
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_title("softmax output", fontsize=SMALL_FONT)
    style_axes(bars)
    save_figure(fig, path)
    predicted = int(probs.argmax())
    sizes = ", ".join(f"{title.split(':')[0]} {m.shape[0]} of {m.shape[1]}x{m.shape[2]}" for title, m in
                      zip(layers.values(), maps.values()))
    caption = (f"A {context.data} test image ({classes[int(y)]}) through LeNet-5 trained by cnnkit for {context.epochs} "
               f"epochs (test accuracy {context.test_accuracy:.1%}): the feature maps ({sizes}), then the fully "
               f"connected layers' class probabilities: {classes[predicted]} with {float(probs[predicted]):.1%}.")
    return Figure(caption, {"label": classes[int(y)], "predicted": classes[predicted],
                            "probability": float(probs[predicted]), "test_accuracy": context.test_accuracy,
                            "shapes": {name: list(m.shape) for name, m in maps.items()}})


def _mosaic(maps: np.ndarray, columns: int) -> np.ndarray:
    """(K, h, w) maps tiled ``columns`` wide with one-pixel NaN gaps (drawn white)."""
    count, h, w = maps.shape
    rows = -(-count // columns)
    out = np.full((rows * (h + 1) - 1, columns * (w + 1) - 1), np.nan)
    for k in range(count):
        r, c = divmod(k, columns)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = maps[k]
    return out


@lecture_figure("cnns", "filters", "Layer 1 and layer 3 filters")
def filters(context: LectureContext, path: Path) -> Figure:
    """LeNet-5's learnt kernels: C1's 6 (1 input channel) and C3's 16 x 6, on a diverging scale around 0."""
    from cnnkit.explain.pictures import layer_filters

    run = context.run()
    first = layer_filters(run.model, "features.0")   # (6, 1, 5, 5)
    third = layer_filters(run.model, "features.3")   # (16, 6, 5, 5)
    fig = new_figure(12.0, 4.6, layout=None)
    grid = fig.add_gridspec(6, 19, left=0.01, right=0.99, bottom=0.02, top=0.9, wspace=0.12, hspace=0.12)
    fig.text(0.01, 0.95, "C1: 6 x (1 x 5x5)", fontsize=SMALL_FONT)
    fig.text(0.17, 0.95, "C3: 16 filters (columns) x 6 input channels (rows), 5x5 each", fontsize=SMALL_FONT)
    scale = float(first.abs().max())
    for k in range(first.shape[0]):
        ax = fig.add_subplot(grid[k, 0:2])
        ax.imshow(first[k, 0].numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale)
        ax.set_axis_off()
    scale3 = float(third.abs().max())
    for o in range(third.shape[0]):
        for i in range(third.shape[1]):
            ax = fig.add_subplot(grid[i, 3 + o])
            ax.imshow(third[o, i].numpy(), cmap="RdBu_r", vmin=-scale3, vmax=scale3)
            ax.set_axis_off()
    save_figure(fig, path)
    caption = (f"The learnt kernels of LeNet-5 after {context.epochs} epochs on {context.data}: blue negative, red "
               f"positive, white zero. C1's six 5x5 kernels act on the image itself (largest |w| = {scale:.2f}); "
               f"each of C3's sixteen filters has one 5x5 kernel per C1 map (largest |w| = {scale3:.2f}), so its "
               "pictures are of features, not pixels.")
    return Figure(caption, {"c1_shape": list(first.shape), "c3_shape": list(third.shape), "c1_max": scale,
                            "c3_max": scale3})


_PUBLISHED = {  # parameters as the papers give them
    "lenet5_1998": ("LeNet-5 (LeCun et al., 1998)", 60_000, "'about 60,000'"),
    "alexnet": ("AlexNet (Krizhevsky et al., 2012)", 60_000_000, "'60 million'"),
    "googlenet": ("GoogLeNet (Szegedy et al., 2015)", 6_800_000, "table 1 sums to 6.8 M"),
    "vgg16": ("VGG-16 (Simonyan & Zisserman, 2015)", 138_000_000, "'138 million'"),
}


@lecture_figure("cnns", "architectures", "LeNet, AlexNet, GoogLeNet and VGG-16 counted")
def architectures(context: LectureContext, path: Path) -> Figure:
    """The classic architectures' parameters and multiply-adds as cnnkit's models give them, beside the papers'."""
    from cnnkit.analysis import summary
    from cnnkit.models import create_model

    rows, numbers = [], {}
    for name, (label, published, quote) in _PUBLISHED.items():
        size = 32 if name == "lenet5_1998" else 224
        with torch.device("meta"):
            result = summary(create_model(name, input_size=size), size)
        params = result.eval_parameters
        rows.append((label, f"{size}x{size}", f"{params:,}", f"{published:,} ({quote})", f"{result.macs / 1e6:,.1f} M"))
        numbers[name] = {"parameters": params, "all_parameters": result.parameters, "published": published,
                         "macs": result.macs}
    fig = new_figure(11.5, 2.4)
    ax = fig.subplots()
    ax.set_axis_off()
    table = ax.table(cellText=rows, colLabels=("network", "input", "parameters (cnnkit)", "published",
                                               "multiply-adds"), loc="center", cellLoc="left", colLoc="left",
                     colWidths=(0.3, 0.09, 0.16, 0.3, 0.15))
    table.auto_set_font_size(False)
    table.set_fontsize(SMALL_FONT)
    table.scale(1, 1.5)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#d8dde3")
        if r == 0:
            cell.set_text_props(weight="bold")
    save_figure(fig, path)
    g = numbers["googlenet"]
    caption = ("Parameters counted by cnnkit summary on the registered models, beside the papers' figures. GoogLeNet's "
               f"count leaves out the two auxiliary classifiers that only training uses ({g['all_parameters']:,} with "
               "them); cnnkit's GoogLeNet has BatchNorm (torchvision's layout), which the paper did not. AlexNet is "
               "the single-tower version (61.1 M), the paper's two-GPU split had 60 M.")
    return Figure(caption, numbers)


@lecture_figure("cnns", "shift", "Shift invariance, measured")
def shift(context: LectureContext, path: Path) -> Figure:
    """How invariant LeNet-5 is to translation (Azulay & Weiss 2019; Zhang 2019): every shift up to 3 pixels."""
    from cnnkit.analysis import shift_consistency
    from cnnkit.viz.shift import plot_shift

    run = context.run()
    x, y = context.images(300)
    results = {mode: shift_consistency(run.model, x, y, max_shift=3, mode=mode) for mode in ("circular", "zeros")}
    circular = results["circular"]
    c = circular.centre
    plot_shift(circular.shifts, circular.true_prob[:5, c, :], {f"LeNet-5, {m}": r.accuracy[c] for m, r in results.items()},
               circular.agreement, path, example_title="LeNet-5, circular: 5 test images",
               agreement_title="same class as unshifted\n(LeNet-5, circular)")
    zeros = results["zeros"]
    caption = (f"Every shift (dy, dx) up to 3 pixels of 300 {context.data} test images through the trained LeNet-5. "
               f"Accuracy {float(circular.accuracy[c, c]):.1%} unshifted, {float(circular.accuracy.mean()):.1%} on average "
               f"over circular shifts and {float(zeros.accuracy.mean()):.1%} over zero-padded ones; consistency (two "
               f"shifts agree, Zhang 2019) {circular.consistency:.1%} / {zeros.consistency:.1%}; a one-pixel step "
               f"changes the class {circular.flip_rate:.1%} of the time. Convolution is equivariant, but max pooling's "
               "subsampling and the flattening classifier break invariance, so the probability jumps between "
               "neighbouring shifts (Azulay & Weiss 2019).")
    return Figure(caption, {mode: {k: v for k, v in r.summary().items() if not k.endswith("_grid")}
                            for mode, r in results.items()})
