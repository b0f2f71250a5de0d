"""The lecture's part "convolution": filters, properties, A_w, backprop, borders, stride, pooling, dilation.

Every figure computes with cnnkit's own operators (``cnnkit.ops``: convolution with "valid",
"same" and "full" borders, stride and dilation, ``flip=True`` for true convolution; the classic
filters; ``conv_matrix``; subsampling S_delta and max pooling with arg-max routing) and checks
what the slide claims against an independent reference: scipy.ndimage / scipy.signal, numpy's
convolve, torch.nn.functional and autograd. Each caption states the measured error.

Concepts, in the lecture's order: Sobel (1968) gradient kernels; box and Gaussian low-pass
filters and their spectra; commutativity, bilinearity, translation equivariance and
associativity of convolution; the convolution matrix A_w of the discrete Laplacian;
back-propagation dx = dy * flip(w), dw = dy * flip(x); valid / same / full borders; strided
convolution as S_delta after convolution; max pooling's arg-max gradient; dilated convolution
(Yu & Koltun 2016, arXiv:1511.07122) and its exponentially growing receptive field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, TwoSlopeNorm
from matplotlib.patches import Circle, Rectangle
from torch import Tensor

from cnnkit.analysis.shift import shift_image
from cnnkit.lecture.catalog import Figure, lecture_figure
from cnnkit.lecture.context import LectureContext
from cnnkit.ops import filters
from cnnkit.ops.conv import conv1d, convolve1d, convolve2d
from cnnkit.ops.matrix import conv_matrix
from cnnkit.ops.pool import max_pool2d, subsample
from cnnkit.viz._figure import NOTE_COLOR, SMALL_FONT, TITLE_FONT, new_figure, save_figure, style_axes

__all__ = ["sobel", "lowpass", "properties", "laplacian_matrix", "backprop", "borders", "stride", "pooling",
           "dilation"]

_DOUBLE = torch.float64  # every check runs in float64, so an error near 1e-16 is rounding, not a bug
_EPS = float(np.finfo(np.float64).eps)


def _np(t: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor (detached) or an array."""
    if isinstance(t, Tensor):
        t = t.detach().cpu().numpy()
    return np.asarray(t, dtype=np.float64)


def _max_error(a: Any, b: Any) -> float:
    return float(np.max(np.abs(_np(a) - _np(b))))


def _convolve(image: Tensor, kernel: Tensor, **kw: Any) -> Tensor:
    """True 2D convolution of one (H, W) image with one (kh, kw) kernel, through cnnkit's convolve2d."""
    return convolve2d(image[None, None], kernel[None, None], **kw)[0, 0]


def _show(ax: Axes, image: Any, title: str, *, signed: bool = False, vmax: float | None = None,
          cmap: str = "gray", vmin: float | None = 0.0, **kw: Any) -> Any:
    """An image panel with its axes off; a signed map is centred on 0 in RdBu (white = 0, red > 0)."""
    values = _np(image)
    if signed:
        vmax = (float(np.abs(values).max()) or 1.0) if vmax is None else vmax
        vmin, cmap = -vmax, "RdBu_r"
    shown = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest", **kw)
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.set_axis_off()
    return shown


def _colourbar(fig: Any, shown: Any, ax: Any, **kw: Any) -> Any:
    bar = fig.colorbar(shown, ax=ax, **({"shrink": 0.8} | kw))
    bar.ax.tick_params(labelsize=SMALL_FONT, colors=NOTE_COLOR)
    return bar


def _frame(ax: Axes) -> None:
    """A thin frame around an image panel whose content may be all white (a difference of 0)."""
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_color("#8c959f")


@lecture_figure("convolution", "sobel", "Sobel edges")
def sobel(context: LectureContext, path: Path) -> Figure:
    """Sobel (1968) gradient kernels: edges as the convolution's response, checked against scipy."""
    from scipy import ndimage

    image = context.photo(256)[0].to(_DOUBLE)  # (H, W)
    kx, ky = filters.sobel("x", dtype=_DOUBLE), filters.sobel("y", dtype=_DOUBLE)
    gx, gy = _convolve(image, kx, padding="same"), _convolve(image, ky, padding="same")
    magnitude = torch.hypot(gx, gy)
    error = max(_max_error(g, ndimage.convolve(_np(image), _np(k), mode="constant"))
                for g, k in ((gx, kx), (gy, ky)))
    # Clip the colour scales at the 99th percentile: a few very strong edges would wash out the rest.
    clip = float(np.percentile(np.abs(_np(torch.stack([gx, gy]))), 99))
    fig = new_figure(13, 3.8, layout="compressed")
    axes = fig.subplots(1, 4)
    _show(axes[0], image, f"photograph {image.shape[0]}x{image.shape[1]}", vmax=1)
    shown = _show(axes[1], gx, "Sobel x: vertical edges", signed=True, vmax=clip)
    _show(axes[2], gy, "Sobel y: horizontal edges", signed=True, vmax=clip)
    _colourbar(fig, shown, axes[1:3].tolist(), extend="both")
    _show(axes[3], magnitude, "gradient magnitude", vmax=float(np.percentile(_np(magnitude), 99)))
    save_figure(fig, path)
    caption = (f"The {image.shape[0]}x{image.shape[1]} photograph convolved (true convolution, zero 'same' "
               "borders) with the Sobel kernels [[-1,0,1],[-2,0,2],[-1,0,1]] and its transpose: the x kernel "
               "answers vertical edges, the y kernel horizontal ones, and sqrt(gx^2 + gy^2) is the edge strength; "
               "the thin frame is the jump from the image to the zero border. Because true convolution flips the "
               "kernel, gx is positive where the image gets darker to the right. cnnkit's convolve2d agrees with "
               f"scipy.ndimage.convolve(mode='constant') to a max abs difference of {error:.1e}.")
    return Figure(caption=caption, numbers={"size": int(image.shape[0]), "max_error": error, "colour_clip": clip})


def _power_spectrum(image: np.ndarray) -> np.ndarray:
    """|FFT|^2 of a Hann-windowed, mean-free image, DC in the middle (the window hides the border jump)."""
    window = np.outer(np.hanning(image.shape[0]), np.hanning(image.shape[1]))
    centred = image - (image * window).sum() / window.sum()
    return np.abs(np.fft.fftshift(np.fft.fft2(centred * window))) ** 2


def _radius(shape: tuple[int, ...]) -> np.ndarray:
    """Radial frequency in cycles per pixel of each fftshift-ed bin (Nyquist is 0.5)."""
    fy, fx = (np.fft.fftshift(np.fft.fftfreq(n)) for n in shape)
    return np.hypot(fy[:, None], fx[None, :])


@lecture_figure("convolution", "lowpass", "Low-pass filtering")
def lowpass(context: LectureContext, path: Path) -> Figure:
    """Box and Gaussian low-pass filters: averaging removes the spectrum's high frequencies."""
    from scipy import ndimage

    image = context.photo(256)[0].to(_DOUBLE)  # (H, W)
    kernels = {"box 5x5": filters.box(5, dtype=_DOUBLE), "Gaussian σ=1.5": filters.gaussian(1.5, dtype=_DOUBLE)}
    images = {"photograph": image} | {name: _convolve(image, k, padding="same") for name, k in kernels.items()}
    error = max(_max_error(images[name], ndimage.convolve(_np(image), _np(k), mode="constant"))
                for name, k in kernels.items())
    radius = _radius(tuple(image.shape))
    spectra = {name: _power_spectrum(_np(x)) for name, x in images.items()}
    high = {name: float(p[radius > 0.25].sum() / p.sum()) for name, p in spectra.items()}  # above Nyquist / 2

    fig = new_figure(13, 6.6)
    axes = fig.subplot_mosaic([["x0", "x1", "x2", "radial"], ["s0", "s1", "s2", "radial"]],
                              width_ratios=(1, 1, 1, 1.35))
    top = max(float(np.log10(p.max())) for p in spectra.values())
    bins = np.minimum((radius * image.shape[0]).astype(int), image.shape[0] // 2)  # one bin per 1/H cycle
    for i, (name, x) in enumerate(images.items()):
        _show(axes[f"x{i}"], x, name, vmax=1)
        _show(axes[f"s{i}"], np.log10(spectra[name] + 1e-30),
              f"log10 power spectrum\n{100 * high[name]:.2g}% above f = 0.25", cmap="magma", vmin=top - 9, vmax=top)
        axes[f"s{i}"].add_patch(Circle((image.shape[1] / 2, image.shape[0] / 2), 0.25 * image.shape[0], fill=False,
                                       edgecolor="#7fd1ff", linestyle="--", linewidth=1))
        radial = np.bincount(bins.ravel(), spectra[name].ravel()) / np.bincount(bins.ravel())
        # Bin 0 is the removed mean (~0): leave it out of the log plot.
        axes["radial"].semilogy(np.arange(1, len(radial)) / image.shape[0], radial[1:], label=name, linewidth=1.6)
    axes["radial"].axvline(0.25, color=NOTE_COLOR, linestyle="--", linewidth=1)
    axes["radial"].text(0.255, 0.97, "half Nyquist", transform=axes["radial"].get_xaxis_transform(),
                        fontsize=SMALL_FONT, color=NOTE_COLOR, va="top")
    axes["radial"].set_xlabel("radial frequency (cycles / pixel)")
    axes["radial"].set_ylabel("mean power")
    axes["radial"].set_title("radial power spectrum", fontsize=TITLE_FONT)
    axes["radial"].legend(fontsize=SMALL_FONT, loc="lower left")
    style_axes(axes["radial"])
    save_figure(fig, path)
    caption = ("The photograph convolved with a 5x5 box and a Gaussian of σ = 1.5 (11x11, 'same' borders), "
               "with the log power spectrum of each (Hann window, DC in the centre, dashed: f = 0.25 cycles/px) and "
               "their radial averages. Spectral energy above half the Nyquist frequency falls from "
               f"{high['photograph']:.2%} to {high['box 5x5']:.3%} (box) and {high['Gaussian σ=1.5']:.4%} "
               "(Gaussian); the box's sinc-shaped response lets ripples through that the Gaussian removes. Both "
               f"filtered images agree with scipy.ndimage.convolve to {error:.1e}.")
    return Figure(caption=caption, numbers={"high_energy_photo": high["photograph"], "high_energy_box": high["box 5x5"],
                                            "high_energy_gaussian": high["Gaussian σ=1.5"], "max_error": error})


def _circular(x: Tensor, w: Tensor) -> Tensor:
    """Circular convolution: wrap the image around, then a valid convolution, so no border breaks symmetry."""
    r = w.shape[0] // 2
    return _convolve(F.pad(x[None, None], (r, r, r, r), mode="circular")[0, 0], w, padding="valid")


@lecture_figure("convolution", "properties", "Properties of convolution, checked")
def properties(context: LectureContext, path: Path) -> Figure:
    """Commutativity, bilinearity, translation equivariance and associativity of convolution, measured."""
    g = torch.Generator().manual_seed(context.seed)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=_DOUBLE)  # noqa: E731
    full = lambda a, b: convolve1d(a[None, None], b[None, None], padding="full")[0, 0]  # noqa: E731
    same = lambda x, k: _convolve(x, k, padding="same")  # noqa: E731
    f1, g1 = rand(64), rand(9)  # 1D signals
    f, h, w, v = rand(48, 48), rand(48, 48), rand(5, 5), rand(5, 5)
    w1, w2 = rand(5, 5), rand(3, 3)
    a, b, shift = 1.7, -0.6, (5, -3)
    # (key, label, left side, right side): each claim as two ways of computing one thing.
    claims = [
        ("commutativity", "f*g = g*f", full(f1, g1), full(g1, f1)),
        ("commutativity_numpy", "f*g = numpy.convolve(f, g)", full(f1, g1), np.convolve(_np(f1), _np(g1))),
        ("bilinearity_input", "(af+bh)*w = a f*w + b h*w", same(a * f + b * h, w), a * same(f, w) + b * same(h, w)),
        ("bilinearity_kernel", "f*(aw+bv) = a f*w + b f*v", same(f, a * w + b * v), a * same(f, w) + b * same(f, v)),
        ("equivariance_circular", "shift, then * = *, then shift",
         _circular(torch.roll(f, shift, (0, 1)), w), torch.roll(_circular(f, w), shift, (0, 1))),
        ("associativity", "(f*w1)*w2 = f*(w1*w2)", _convolve(_convolve(f, w1, padding="full"), w2, padding="full"),
         _convolve(f, _convolve(w1, w2, padding="full"), padding="full")),  # w1*w2 is one 7x7 kernel
    ]
    absolute = {key: _max_error(left, right) for key, _, left, right in claims}
    # Relative to the result's largest value: sums of many N(0, 1) products reach tens, and rounding scales with them.
    errors = {key: absolute[key] / float(np.abs(_np(right)).max()) for key, _, _, right in claims}

    # On the photograph with zero borders: equal except within r pixels of where content crossed a border.
    photo = context.photo(128)[0].to(_DOUBLE)  # (H, W)
    blur, (dy, dx) = filters.gaussian(2.0, dtype=_DOUBLE), (16, 24)
    r = blur.shape[0] // 2
    shift_first = same(shift_image(photo, dy, dx, "zeros"), blur)
    blur_first = shift_image(same(photo, blur), dy, dx, "zeros")
    interior = _max_error(shift_first[dy + r: -r, dx + r: -r], blur_first[dy + r: -r, dx + r: -r])

    fig = new_figure(12.5, 4.1)
    axes = fig.subplots(1, 4, width_ratios=(2.2, 1, 1, 1.2))
    labels, values = [label for _, label, _, _ in claims], list(errors.values())
    floor = 1e-19  # an exact 0 has no place on a log axis: draw it at the floor and say so
    axes[0].barh(labels, [max(e, floor) for e in values], color="#2f6fd0", left=floor, height=0.6)
    for row, e in enumerate(values):
        axes[0].text(max(e, floor) * 1.8, row, "0 (exact)" if e == 0 else f"{e:.1e}", va="center", fontsize=SMALL_FONT)
    axes[0].axvline(_EPS, color="#c0392b", linestyle="--", linewidth=1.2, label=f"float64 eps = {_EPS:.1e}")
    axes[0].set_xscale("log")
    axes[0].set_xlim(floor, 1e-10)
    axes[0].invert_yaxis()
    axes[0].legend(fontsize=SMALL_FONT, loc="center right", framealpha=0.9)
    axes[0].set_xlabel("max |left - right| / max |right|   (float64, random inputs)")
    axes[0].set_title("properties of convolution", fontsize=TITLE_FONT)
    axes[0].tick_params(axis="y", labelsize=SMALL_FONT)
    style_axes(axes[0])
    _show(axes[1], shift_first, "shift, then blur", vmax=1)
    _show(axes[2], blur_first, "blur, then shift", vmax=1)
    shown = _show(axes[3], shift_first - blur_first, f"difference: {interior:g} inside", signed=True)
    _frame(axes[3])
    _colourbar(fig, shown, axes[3])
    save_figure(fig, path)
    worst = max(values)
    caption = ("Each property measured on random float64 signals (length 64 and 9) and images (48x48, kernels 5x5 and "
               f"3x3): every max error, relative to the result's largest value, is at most {worst:.1e}, a few float64 "
               f"epsilons ({_EPS:.1e}; absolute at most {max(absolute.values()):.1e}), so commutativity, bilinearity "
               "in input and kernel, translation equivariance (circular borders) and associativity (two convolutions "
               "are one with the 7x7 kernel w1*w2) hold up to rounding. Right: the photograph shifted by "
               f"({dy}, {dx}) px and blurred (Gaussian σ = 2, zero borders) equals it blurred then shifted except "
               f"within {r} px of where content crossed the border, and exactly ({interior:g}) inside.")
    return Figure(caption=caption, numbers=errors | {"max_error": worst, "absolute": absolute, "float64_eps": _EPS,
                                                     "equivariance_photo_interior": interior, "border_band": r})


def _annotate(ax: Axes, values: np.ndarray, *, skip_zeros: bool = False, fontsize: float = SMALL_FONT,
              fmt: str = "{:g}", colour: str | None = None) -> None:
    """Write each cell's value into an image panel (dark text on light cells, white on dark)."""
    top = np.abs(values).max() or 1.0
    for (i, j), value in np.ndenumerate(values):
        if skip_zeros and value == 0:
            continue
        text_colour = colour or ("white" if abs(value) > 0.6 * top else "black")
        ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=fontsize, color=text_colour)


@lecture_figure("convolution", "laplacian-matrix", "The matrix A_w of the discrete Laplacian")
def laplacian_matrix(context: LectureContext, path: Path) -> Figure:
    """Convolution as a linear map: the block-tridiagonal matrix A_w of the 5-point Laplacian, and dx = A_w^T dy."""
    from scipy import ndimage

    n = 6
    kernel = filters.laplacian(dtype=_DOUBLE)
    g = torch.Generator().manual_seed(context.seed)
    x = torch.randint(0, 10, (n, n), generator=g).to(_DOUBLE)  # small integers, so every product is exact
    matrix = conv_matrix(kernel[None, None], (1, n, n), padding="same", flip=True, dense=True)  # (n*n, n*n)
    stored = conv_matrix(kernel[None, None], (1, n, n), padding="same", flip=True).values().numel()  # sparse COO
    y = (matrix @ x.reshape(-1)).reshape(n, n)  # A_w vec(x), back to (n, n)
    error = max(_max_error(y, _convolve(x, kernel, padding="same")),
                _max_error(y, ndimage.convolve(_np(x), _np(kernel), mode="constant")))
    # The Jacobian of torch's own convolution is A_w, entry for entry (the Laplacian is symmetric: no flip needed).
    jacobian = torch.autograd.functional.jacobian(
        lambda t: F.conv2d(t.reshape(1, 1, n, n), kernel[None, None], padding=1).reshape(-1), x.reshape(-1))
    dy = torch.randint(-3, 4, (n, n), generator=g).to(_DOUBLE)
    leaf = x.clone().requires_grad_(True)
    _convolve(leaf, kernel, padding="same").backward(dy)
    backward_error = _max_error(leaf.grad.reshape(-1), matrix.T @ dy.reshape(-1))  # dx = A_w^T dy

    fig = new_figure(12.5, 7.4)
    axes = fig.subplot_mosaic([["A", "x"], ["A", "y"]], width_ratios=(2.3, 1))
    norm = TwoSlopeNorm(vmin=-4, vcenter=0, vmax=1)  # -4 and 1 both at full colour, 0 white
    shown = axes["A"].imshow(_np(matrix), cmap="RdBu_r", norm=norm, interpolation="nearest")
    _annotate(axes["A"], _np(matrix), skip_zeros=True, fontsize=6.5, colour="white")  # both -4 and 1 are dark
    for edge in np.arange(n, n * n, n) - 0.5:  # the n x n blocks: one per pair of image rows
        axes["A"].axhline(edge, color="#8c959f", linewidth=0.6)
        axes["A"].axvline(edge, color="#8c959f", linewidth=0.6)
    axes["A"].set_xticks(range(0, n * n, n))
    axes["A"].set_yticks(range(0, n * n, n))
    axes["A"].tick_params(labelsize=SMALL_FONT)
    axes["A"].set_xlabel("input pixel (row-major index of vec(x))")
    axes["A"].set_ylabel("output pixel")
    axes["A"].set_title(f"A_w: {matrix.shape[0]}x{matrix.shape[1]}, {int((matrix != 0).sum())} nonzeros "
                        f"('same' borders, {n}x{n} input)", fontsize=TITLE_FONT)
    _colourbar(fig, shown, axes["A"], ticks=[-4, -2, 0, 1], shrink=0.6)
    _show(axes["x"], x, f"x ({n}x{n})", cmap="Greys", vmax=12)
    _annotate(axes["x"], _np(x))
    _show(axes["y"], y, "A_w vec(x) = x * Laplacian", signed=True)
    _annotate(axes["y"], _np(y))
    save_figure(fig, path)
    nonzeros = int((matrix != 0).sum())
    caption = (f"conv_matrix of the 5-point Laplacian [[0,1,0],[1,-4,1],[0,1,0]] for a {n}x{n} input with 'same' "
               f"(zero) borders: a {matrix.shape[0]}x{matrix.shape[1]} block-tridiagonal matrix with {nonzeros} "
               f"nonzeros ({stored} stored entries in the sparse form, the corner taps' zeros included), "
               f"-4 on the diagonal and 1 for each neighbour inside the image. A_w vec(x) equals cnnkit's "
               f"convolve2d and scipy.ndimage.convolve to {error:.1e}, A_w equals the Jacobian of F.conv2d to "
               f"{_max_error(matrix, jacobian):.1e}, and autograd's dx equals A_w^T dy to {backward_error:.1e}.")
    return Figure(caption=caption, numbers={"shape": list(matrix.shape), "nonzeros": nonzeros,
                                            "stored_entries": int(stored), "max_error": error,
                                            "jacobian_error": _max_error(matrix, jacobian),
                                            "backward_error": backward_error})


@lecture_figure("convolution", "backprop", "Back-propagation through a convolution")
def backprop(context: LectureContext, path: Path) -> Figure:
    """Back-propagation through y = x * w: dx = dy * flip(w) (full), dw = dy * flip(x) (valid)."""
    x = torch.tensor([1.0, 2.0, 0.0, -1.0, 3.0, 1.0, 2.0], dtype=_DOUBLE)
    w = torch.tensor([2.0, -1.0, 1.0], dtype=_DOUBLE)  # not symmetric, so a missing flip would show
    dy = torch.tensor([1.0, 0.0, -1.0, 2.0, 1.0], dtype=_DOUBLE)  # upstream gradient dL/dy, L = sum(dy * y)
    one = lambda t: t[None, None]  # noqa: E731  (L,) -> (1, 1, L)
    y = convolve1d(one(x), one(w), padding="valid")[0, 0]  # (n - k + 1,) = (5,)
    # The lecture's formulas, each one more convolution (dw by commutativity: flip(x) is the longer signal).
    dx = convolve1d(one(dy), one(w.flip(0)), padding="full")[0, 0]  # (n,)
    dw = convolve1d(one(x.flip(0)), one(dy), padding="valid")[0, 0]  # (k,)
    # Autograd through torch's correlation of the flipped kernel, which is the same true convolution.
    xt, wt = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    F.conv1d(one(xt), one(wt.flip(0)))[0, 0].backward(dy)
    # cnnkit's hand-written backward (ConvNdFunction).
    xc, wc = x.clone().requires_grad_(True), w.clone().requires_grad_(True)
    conv1d(one(xc), one(wc), flip=True)[0, 0].backward(dy)
    errors = {"y_numpy": _max_error(y, np.convolve(_np(x), _np(w), mode="valid")),
              "dx_autograd": _max_error(dx, xt.grad), "dx_cnnkit": _max_error(dx, xc.grad),
              "dw_autograd": _max_error(dw, wt.grad), "dw_cnnkit": _max_error(dw, wc.grad)}

    rows = [("x", x, "in"), ("w", w, "in"), ("y = x * w  (valid)", y, "in"), ("dy = dL/dy", dy, "in"),
            ("dx = dy * flip(w)  (full), formula", dx, "dx"), ("dx, torch autograd", xt.grad, "dx"),
            ("dx, cnnkit backward", xc.grad, "dx"), ("dw = dy * flip(x)  (valid), formula", dw, "dw"),
            ("dw, torch autograd", wt.grad, "dw"), ("dw, cnnkit backward", wc.grad, "dw")]
    width = len(x)
    cells = [[f"{v:g}" for v in _np(t)] + [""] * (width - len(t)) for _, t, _ in rows]
    shade = {"in": "#f3f5f7", "dx": "#dbe9fb", "dw": "#dcf3e6"}
    fig = new_figure(11, 4.0)
    ax = fig.subplots()
    ax.set_axis_off()
    table = ax.table(cellText=cells, rowLabels=[label for label, _, _ in rows],
                     colLabels=[str(i) for i in range(width)], cellLoc="center", loc="center",
                     cellColours=[[shade[kind]] * width for _, _, kind in rows],
                     rowColours=[shade[kind] for _, _, kind in rows])
    table.auto_set_font_size(False)
    table.set_fontsize(10.5)
    table.scale(1, 1.45)
    fig.suptitle("y = x * w (true convolution), L = sum(dy · y): the lecture's formulas beside two autograds",
                 fontsize=TITLE_FONT)
    save_figure(fig, path)
    worst = max(errors.values())
    caption = ("A 1D true convolution with small integers, y = x * w (valid, length 7 - 3 + 1 = 5; numpy.convolve "
               f"agrees to {errors['y_numpy']:g}), and an upstream gradient dy. The lecture's formulas, computed with "
               "cnnkit's convolve1d, dx = dy * flip(w) (full) and dw = dy * flip(x) (valid), equal autograd through "
               f"torch's F.conv1d and cnnkit's hand-written backward with max differences dx {errors['dx_autograd']:g} "
               f"/ {errors['dx_cnnkit']:g} and dw {errors['dw_autograd']:g} / {errors['dw_cnnkit']:g}: exactly 0.")
    return Figure(caption=caption,
                  numbers=errors | {"max_error": worst, "dx": _np(dx).tolist(), "dw": _np(dw).tolist()})


_SIZE = {"valid": lambda n, k: n - k + 1, "same": lambda n, k: n, "full": lambda n, k: n + k - 1}


@lecture_figure("convolution", "borders", "Valid, same and full borders")
def borders(context: LectureContext, path: Path) -> Figure:
    """Border modes: valid (n - k + 1), same (n) and full (n + k - 1) outputs, drawn at their true sizes."""
    from scipy import signal

    n, k = 64, 9
    image = context.photo(n)[0].to(_DOUBLE)  # (n, n)
    kernel = filters.box(k, dtype=_DOUBLE)
    outputs = {mode: _convolve(image, kernel, padding=mode) for mode in _SIZE}
    error = max(_max_error(out, signal.convolve2d(_np(image), _np(kernel), mode=mode)) for mode, out in outputs.items())
    # The formula against cnnkit's output shapes and numpy.convolve's lengths, for odd, even and equal sizes.
    cases = [(64, 9), (10, 3), (7, 7), (33, 4), (5, 1)]
    checked = []
    for case_n, case_k in cases:
        for mode, formula in _SIZE.items():
            got = tuple(_convolve(torch.zeros(case_n, case_n), torch.zeros(case_k, case_k), padding=mode).shape)
            reference = len(np.convolve(np.ones(case_n), np.ones(case_k), mode=mode))
            checked.append(got == (formula(case_n, case_k),) * 2 and reference == formula(case_n, case_k))

    fig = new_figure(13, 3.9)
    axes = fig.subplots(1, 4)
    r = k // 2
    panels = {"input": (image, 0)} | {mode: (out, {"valid": r, "same": 0, "full": -r}[mode])
                                      for mode, out in outputs.items()}
    for ax, (mode, (shown, start)) in zip(axes, panels.items()):
        # One coordinate system for all: input pixels; an output pixel sits at its kernel window's centre.
        size = shown.shape[0]
        extent = (start - 0.5, start + size - 0.5, start + size - 0.5, start - 0.5)
        _show(ax, shown, f"input n = {n}" if mode == "input" else f"{mode}: {size}x{size}", vmax=1, extent=extent)
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_xlim(-2 * r - 0.5, n + 2 * r - 0.5)
        ax.set_ylim(n + 2 * r - 0.5, -2 * r - 0.5)
        ax.add_patch(Rectangle((-0.5, -0.5), n, n, fill=False, edgecolor="#e07a10", linestyle="--", linewidth=1.2))
    axes[0].add_patch(Rectangle((-0.5, -0.5), k, k, fill=False, edgecolor="#c0392b", linewidth=1.6))
    axes[0].text(k + 1, k / 2, f"{k}x{k} box", color="#c0392b", fontsize=SMALL_FONT, va="center")
    for ax, formula in zip(axes[1:], ("n - k + 1", "n", "n + k - 1")):
        ax.set_xlabel(formula, fontsize=SMALL_FONT, color=NOTE_COLOR)
    save_figure(fig, path)
    sizes = {mode: int(out.shape[0]) for mode, out in outputs.items()}
    caption = (f"A {n}x{n} photograph convolved with a {k}x{k} box under each border mode, drawn in one coordinate "
               "system (each output pixel at its window's centre; dashed: the input): valid gives "
               f"{n} - {k} + 1 = {sizes['valid']}, same {sizes['same']} and full {n} + {k} - 1 = {sizes['full']}, "
               "the darker frames of 'same' and 'full' being the zeros averaged in. All three agree with "
               f"scipy.signal.convolve2d to {error:.1e}, and the three formulas match cnnkit's output sizes and "
               f"numpy.convolve's in {sum(checked)}/{len(checked)} cases ({len(cases)} (n, k) pairs, even k and "
               "k = n included).")
    return Figure(caption=caption, numbers={"n": n, "k": k, "sizes": sizes, "max_error": error,
                                            "sizes_checked": len(checked), "sizes_correct": int(sum(checked))})


@lecture_figure("convolution", "stride", "Strided convolution = convolution, then S_delta")
def stride(context: LectureContext, path: Path) -> Figure:
    """Strided convolution is S_delta (keep every delta-th sample) after the stride-1 convolution."""
    x = context.photo(128)[0].to(_DOUBLE)  # (H, W)
    kernel = filters.sobel("x", dtype=_DOUBLE)
    full = _convolve(x, kernel, padding="full")  # (H + 2, W + 2)
    then_subsampled = subsample(full[None, None], 2)[0, 0]  # (ceil((H + 2) / 2), ...)
    strided = _convolve(x, kernel, padding="full", stride=2)
    error = _max_error(strided, then_subsampled)
    reference = F.conv2d(x[None, None], kernel.flip(0, 1)[None, None], stride=2, padding=2)[0, 0]
    torch_error = _max_error(strided, reference)
    valid_error = _max_error(_convolve(x, kernel, stride=2), subsample(_convolve(x, kernel)[None, None], 2)[0, 0])

    fig = new_figure(13, 3.6, layout="compressed")
    axes = fig.subplots(1, 5)
    clip = float(np.percentile(np.abs(_np(full)), 99))
    _show(axes[0], x, f"input {x.shape[0]}x{x.shape[1]}", vmax=1)
    shown = _show(axes[1], full, f"full conv, stride 1: {full.shape[0]}x{full.shape[1]}", signed=True, vmax=clip)
    _show(axes[2], then_subsampled, f"then S_2: {then_subsampled.shape[0]}x{then_subsampled.shape[1]}", signed=True,
          vmax=clip)
    _show(axes[3], strided, f"stride 2: {strided.shape[0]}x{strided.shape[1]}", signed=True, vmax=clip)
    _colourbar(fig, shown, axes[1:4].tolist(), extend="both")
    _show(axes[4], strided - then_subsampled, f"difference: max {error:g}", signed=True)
    _frame(axes[4])
    save_figure(fig, path)
    caption = (f"The {x.shape[0]}x{x.shape[1]} photograph convolved with the Sobel x kernel at stride 2 (full borders, "
               f"{strided.shape[0]}x{strided.shape[1]}) equals the stride-1 full convolution ({full.shape[0]}x"
               f"{full.shape[1]}) followed by S_2, which keeps every second row and column: max difference {error:g} "
               f"(and {valid_error:g} with valid borders), computing a quarter of the outputs. cnnkit's strided "
               f"convolution agrees with torch's F.conv2d(stride=2) to {torch_error:.1e}.")
    return Figure(caption=caption, numbers={"input_shape": list(x.shape), "full_shape": list(full.shape),
                                            "strided_shape": list(strided.shape), "max_error": error,
                                            "valid_error": valid_error, "torch_error": torch_error})


def _cells(ax: Axes, values: np.ndarray, title: str, *, highlight: np.ndarray | None = None, window: int = 0) -> None:
    """A small matrix as a grid of numbered cells, highlighted cells shaded, pooling windows outlined."""
    mask = np.zeros(values.shape) if highlight is None else highlight.astype(float)
    ax.imshow(mask, cmap=ListedColormap(["white", "#ffd27f"]), vmin=0, vmax=1)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=13,
                fontweight="bold" if mask[i, j] else "normal")
    rows, cols = values.shape
    for edge in range(rows + 1):
        thick = window and edge % window == 0
        ax.axhline(edge - 0.5, color="#24292f" if thick else "#8c959f", linewidth=2.2 if thick else 0.7)
    for edge in range(cols + 1):
        thick = window and edge % window == 0
        ax.axvline(edge - 0.5, color="#24292f" if thick else "#8c959f", linewidth=2.2 if thick else 0.7)
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.set_axis_off()


@lecture_figure("convolution", "pooling", "Max pooling and its gradient")
def pooling(context: LectureContext, path: Path) -> Figure:
    """Max pooling: the gradient flows only to each window's arg-max (hand-written backward vs torch)."""
    g = torch.Generator().manual_seed(context.seed)
    x = (torch.randperm(16, generator=g) + 1).to(_DOUBLE).reshape(1, 1, 4, 4)  # distinct: one arg-max per window
    dy = torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=_DOUBLE).reshape(1, 1, 2, 2)
    leaf = x.clone().requires_grad_(True)
    y, index = max_pool2d(leaf, 2, return_indices=True)  # (1, 1, 2, 2)
    (dy * y).sum().backward()  # dL/dy = dy
    reference = x.clone().requires_grad_(True)
    y_torch, index_torch = F.max_pool2d(reference, 2, return_indices=True)
    (dy * y_torch).sum().backward()
    error = _max_error(leaf.grad, reference.grad)
    forward_error = _max_error(y, y_torch)
    same_index = bool(torch.equal(index, index_torch))
    winners = np.zeros(16, dtype=bool)
    winners[index.reshape(-1).numpy()] = True
    winners = winners.reshape(4, 4)  # (4, 4): the arg-max of each 2x2 window

    fig = new_figure(12.5, 3.7)
    axes = fig.subplots(1, 4, width_ratios=(4, 2, 2, 4))
    _cells(axes[0], _np(x[0, 0]), "x: 2x2 windows, arg-max shaded", highlight=winners, window=2)
    _cells(axes[1], _np(y[0, 0]), "y = max_pool2d(x, 2)")
    _cells(axes[2], _np(dy[0, 0]), "dy = dL/dy")
    _cells(axes[3], _np(leaf.grad[0, 0]), "dx: dy routed to the arg-max", highlight=winners, window=2)
    save_figure(fig, path)
    caption = ("2x2 max pooling of a 4x4 input with distinct integers, so each window has one arg-max (shaded). For "
               "L = sum(dy · y) the gradient dx is zero except at the arg-max positions, which receive their window's "
               "dy. cnnkit's max_pool2d (hand-written backward, arg-max routing) equals torch's F.max_pool2d in the "
               f"forward pass ({forward_error:g}), the arg-max indices ({'identical' if same_index else 'different'}) "
               f"and the gradient (max difference {error:g}).")
    return Figure(caption=caption, numbers={"max_error": error, "forward_error": forward_error,
                                            "indices_equal": same_index, "routed": int(winners.sum()),
                                            "dx_nonzero": int((leaf.grad != 0).sum())})


def _footprint(response: Tensor) -> int:
    """Side of the smallest square holding the nonzero part of a centred impulse response."""
    rows = torch.nonzero(response.abs().sum(1)).flatten()
    return int(rows.max() - rows.min() + 1)


@lecture_figure("convolution", "dilation", "Dilated convolution's footprint")
def dilation(context: LectureContext, path: Path) -> Figure:
    """Dilated convolution (Yu & Koltun 2016): taps d apart, and a stack's receptive field growing exponentially."""
    size, k = 33, 3
    delta = torch.zeros(size, size, dtype=_DOUBLE)
    delta[size // 2, size // 2] = 1.0  # its response is the kernel's footprint
    kernel = torch.ones(k, k, dtype=_DOUBLE)
    rates = (1, 2, 4)
    footprints = {d: _convolve(delta, kernel, padding="same", dilation=d) for d in rates}
    torch_error = max(_max_error(out, F.conv2d(delta[None, None], kernel[None, None], padding="same", dilation=d)[0, 0])
                      for d, out in footprints.items())
    stacked, plain, growth, plain_growth = delta, delta, [], []
    for d in rates:  # three 3x3 layers: dilations 1, 2, 4 against 1, 1, 1
        stacked = _convolve(stacked, kernel, padding="same", dilation=d)
        plain = _convolve(plain, kernel, padding="same")
        growth.append(_footprint(stacked))
        plain_growth.append(_footprint(plain))
    sides = [_footprint(footprints[d]) for d in rates]
    field, plain_field = growth[-1], plain_growth[-1]
    formula = 1 + sum((k - 1) * d for d in rates)  # each layer widens the field by (k - 1) d

    fig = new_figure(12.5, 3.3, layout="compressed")
    axes = fig.subplots(1, 5)
    c, half = size // 2, 9  # show the central 19x19 pixels
    crop = lambda t: _np(t)[c - half: c + half + 1, c - half: c + half + 1]  # noqa: E731
    panels = [(footprints[d], f"3x3, dilation {d}: {s}x{s}", s) for d, s in zip(rates, sides)]
    panels += [(stacked, f"stack d = 1, 2, 4: {field}x{field}", field),
               (plain, f"stack d = 1, 1, 1: {plain_field}x{plain_field}", plain_field)]
    for ax, (response, title, side) in zip(axes, panels):
        shown = _show(ax, crop(response) / float(response.max()), title, cmap="Blues", vmax=1)
        ax.add_patch(Rectangle((half - side / 2, half - side / 2), side, side, fill=False, edgecolor="#e07a10",
                               linestyle="--", linewidth=1.3))
        for edge in np.arange(2 * half + 2) - 0.5:  # the pixel grid, so taps can be counted
            ax.axhline(edge, color="#d8dde3", linewidth=0.4)
            ax.axvline(edge, color="#d8dde3", linewidth=0.4)
    _colourbar(fig, shown, axes.tolist(), label="weight / its maximum", shrink=0.7)
    save_figure(fig, path)
    caption = (f"The impulse response of a 3x3 kernel of ones (the response to a single bright pixel) at dilation "
               f"1, 2 and 4 covers {sides[0]}x{sides[0]}, {sides[1]}x{sides[1]} and {sides[2]}x{sides[2]} pixels with "
               f"the same 9 taps, (k - 1) d + 1; cnnkit matches torch's dilated F.conv2d to {torch_error:.1e}. Three "
               f"stacked 3x3 layers with dilations 1, 2, 4 see {field}x{field} pixels (1 + 2(1 + 2 + 4) = {formula}): "
               f"layer by layer {', '.join(map(str, growth))}, i.e. 2^(l+1) - 1, exponential in depth, against "
               f"{', '.join(map(str, plain_growth))} without dilation, linear.")
    return Figure(caption=caption, numbers={"footprint_sides": sides, "stack_receptive_field": field,
                                            "stack_formula": formula, "stack_growth": growth,
                                            "plain_stack_receptive_field": plain_field, "plain_growth": plain_growth,
                                            "torch_error": torch_error})
