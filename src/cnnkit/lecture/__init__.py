"""The lecture as a runnable companion: every concept's figure, regenerated from cnnkit's own functions.

``build_lecture(out)`` (``cnnkit lecture``) draws them in the lecture's order (catalog.py); each
part is one module: convolution.py (filtering, the properties of convolution, A_w, back-propagation,
borders, stride, pooling, dilation), cnns.py (weight sharing, receptive fields, LeNet-5's maps and
filters, the architectures' parameter counts, shift invariance), visualisation.py (activation
maximisation, class models, DeepDream, the loss landscape) and adversarial.py (FGSM, a universal
perturbation, physical-world destruction rates).
"""

from cnnkit.lecture.build import LECTURE_FILE, build_lecture
from cnnkit.lecture.catalog import PARTS, Figure, LectureFigure, figures, lecture_figure, select_figures
from cnnkit.lecture.context import LectureContext

__all__ = ["LECTURE_FILE", "PARTS", "Figure", "LectureContext", "LectureFigure", "build_lecture", "figures",
           "lecture_figure", "select_figures"]
