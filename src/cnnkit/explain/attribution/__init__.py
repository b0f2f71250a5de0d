"""Attribution: which pixels of an image a class score depends on (lecture: visualising a CNN,
saliency and attribution). Every method explains the class logit S_c (class_score.py) and takes
``(model, x, target)``.

- gradients.py: gradient saliency, max_c |dS_c/dx| (Simonyan, Vedaldi & Zisserman, 2013,
  arXiv:1312.6034), and SmoothGrad, its mean over noisy copies (Smilkov et al., 2017, arXiv:1706.03825);
- paths.py: Integrated Gradients along the straight path from a baseline, with its completeness
  check (Sundararajan, Taly & Yan, 2017, arXiv:1703.01365);
- cam.py: Grad-CAM, class activation maps from a layer's gradients (Selvaraju et al., 2017,
  arXiv:1610.02391).
"""

from cnnkit.explain.attribution.cam import gradcam
from cnnkit.explain.attribution.gradients import saliency, smoothgrad
from cnnkit.explain.attribution.paths import completeness_error, integrated_gradients

__all__ = ["completeness_error", "gradcam", "integrated_gradients", "saliency", "smoothgrad"]
