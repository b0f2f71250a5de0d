"""The lecture's part on looking inside a trained CNN, as figures: activation maximisation (Erhan et al.,
2009), class models (Simonyan et al., 2014), DeepDream (Mordvintsev et al., 2015) and the loss landscape
(Li et al., 2018), all on the lecture's LeNet-5 through explain/'s one gradient-ascent loop."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.lecture.catalog import Figure, lecture_figure
from cnnkit.lecture.context import LectureContext

__all__: list[str] = []


@lecture_figure("visualisation", "maximisation", "Activation maximisation")
def maximisation(context: LectureContext, path: Path) -> Figure:
    """The image that excites each of C3's 16 channels most (Erhan et al., 2009), with L2 and TV regularisers."""
    from cnnkit.explain.layers import activations
    from cnnkit.explain.synthesis import AscentConfig, maximize
    from cnnkit.explain.synthesis.maximization import unit_activation
    from cnnkit.viz.synthesis import plot_synthesised

    run = context.run()
    layer, units = "features.4", list(range(16))
    config = AscentConfig(steps=120, lr=0.05, l2=1e-3, tv=1e-3, jitter=1)
    x = maximize(run.model, layer, units, config=config, input_size=run.info.input_size, seed=context.seed)
    reached = unit_activation(run.model, x, layer, units)
    test_x, _ = context.images(200)  # the same channels on real test images, for scale: each map's mean, as maximize scores
    with torch.no_grad():
        best_real = activations(run.model, test_x, [layer])[layer].mean((2, 3)).amax(0)  # (200, 16, h, w) -> (16,)
    ratio = float((reached.cpu() / best_real.cpu().clamp_min(1e-6)).median())
    plot_synthesised(x.cpu(), [f"channel {u}\n{float(a):.2f}" for u, a in zip(units, reached)], path,
                     title=f"LeNet-5 {layer} (C3 after ReLU): images maximising each channel's mean", ncols=8,
                     stretch=True)
    caption = (f"Gradient ascent on the input ({config.steps} Adam steps, L2 and total-variation penalties, 1-pixel "
               f"jitter) from noise, one image per channel of C3 (after ReLU) of the lecture's LeNet-5, batched. Under "
               f"each: the channel's mean activation reached. The median channel reaches {ratio:.1f}x its highest "
               f"mean activation over 200 real test images.")
    return Figure(caption, {"layer": layer, "reached": [float(a) for a in reached],
                            "best_on_test_images": [float(a) for a in best_real], "median_ratio": ratio})


@lecture_figure("visualisation", "class-models", "Class models")
def class_models(context: LectureContext, path: Path) -> Figure:
    """The image each class scores highest (Simonyan et al., 2014): argmax_x S_c(x) - lambda ||x||^2."""
    from cnnkit.explain.synthesis import class_model
    from cnnkit.explain.synthesis.class_models import class_model_config
    from cnnkit.viz.synthesis import plot_synthesised

    run = context.run()
    classes = context.classes()
    x = class_model(run.model, list(range(len(classes))), input_size=run.info.input_size,
                    config=class_model_config(run.info.input_size), seed=context.seed)
    with torch.no_grad():
        probs = run.model(x).softmax(1).cpu()  # (K, K)
    confidence = [float(probs[k, k]) for k in range(len(classes))]
    plot_synthesised(x.cpu(), [f"{name}\np = {c:.2f}" for name, c in zip(classes, confidence)], path,
                     title="class models of LeNet-5: the input each class scores highest", ncols=5, stretch=True)
    caption = (f"For each of the {len(classes)} classes, gradient ascent on the class score (before softmax) with an "
               "L2 penalty, from noise, batched through one ascent loop. Under each image: the softmax probability "
               f"the network gives its class; the lowest is {min(confidence):.2f}, the median "
               f"{sorted(confidence)[len(confidence) // 2]:.2f}.")
    return Figure(caption, {"confidence": dict(zip(classes, confidence))})


@lecture_figure("visualisation", "deepdream", "A DeepDream")
def deepdream(context: LectureContext, path: Path) -> Figure:
    """DeepDream (Mordvintsev et al., 2015): the photograph changed to amplify what C3 already sees in it."""
    from cnnkit.explain.layers import activations
    from cnnkit.explain.synthesis import deepdream as dream
    from cnnkit.viz.synthesis import plot_before_after

    run = context.run()
    layer = "features.4"
    photo = context.photo(224)[None].to(context.device)  # (1, 1, H, W)
    dreamt = dream(run.model, photo, layer=layer, input_size=run.info.input_size, octaves=3, steps_per_octave=12,
                   lr=0.02, seed=context.seed)
    with torch.no_grad():
        before = float(activations(run.model, photo, [layer])[layer].pow(2).mean())
        after = float(activations(run.model, dreamt, [layer])[layer].pow(2).mean())
    change = float((dreamt - photo).abs().mean())
    plot_before_after(photo.cpu(), dreamt.cpu(), path, title=f"DeepDream: LeNet-5 {layer}",
                      captions=("before", f"after (mean change {change:.3f})"))
    caption = (f"Three octaves of 12 normalised gradient steps with jitter raise the mean square of C3's activations "
               f"on scikit-image's camera man from {before:.3g} to {after:.3g} ({after / max(before, 1e-12):.1f}x); "
               f"pixels change by {change:.3f} on average. A network trained on 28x28 {context.data} items has only "
               "strokes and blobs to dream of, which is what appears.")
    return Figure(caption, {"layer": layer, "energy_before": before, "energy_after": after, "mean_change": change})


@lecture_figure("visualisation", "landscape", "A loss landscape")
def landscape(context: LectureContext, path: Path) -> Figure:
    """Loss and accuracy over a plane of filter-normalised directions around the trained weights (Li et al., 2018)."""
    from cnnkit.explain.landscape import LandscapeConfig, loss_landscape
    from cnnkit.viz.landscape import plot_loss_contour

    run = context.run()
    x, y = context.images(500)
    result = loss_landscape(run.model, (x, y), LandscapeConfig(dims=2, points=15, subset=None, seed=context.seed))
    plot_loss_contour(result.alphas, result.betas, result.loss, path, accuracy=result.accuracy,
                      title="LeNet-5's loss around its trained weights")
    centre = result.loss.shape[0] // 2
    trained, edge = float(result.loss[centre, centre]), float(result.loss.max())
    caption = (f"Mean cross-entropy and accuracy of 500 test images on a 15x15 grid of weights theta + a d1 + b d2, "
               f"a, b in [-1, 1], with d1, d2 random directions normalised filter by filter to the trained filters' "
               f"norms. The trained weights (star) sit in a basin: loss {trained:.3f} there, up to {edge:.2f} at the "
               f"grid's edge; accuracy {float(result.accuracy[centre, centre]):.1%} at the centre. The model's "
               "weights are restored bitwise afterwards.")
    return Figure(caption, {"loss_trained": trained, "loss_max": edge,
                            "accuracy_trained": float(result.accuracy[centre, centre])})
