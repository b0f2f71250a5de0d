"""Optical flow (lecture: motion; Fischer, Dosovitskiy et al., ICCV 2015, FlowNet). A trained
pwc_lite ships in cnnkit/weights/flow (reproduce.json names its command and commit).

- flo.py: Middlebury ``.flo`` files, read with every field checked and written atomically;
- colour.py: flow pictures in the Middlebury colour wheel, and its legend;
- _correlation.py: FlowNetC's correlation layer, vectorised (no loop over displacements);
- metrics.py: end-point error, over all pixels or a mask (occluded, not occluded);
- scenes.py: FlyingChairs-style pairs with exact flow, occlusion and validity masks, from a seed;
- networks.py: FlowNetS, FlowNetC (width multiplier; 1.0 the published sizes), PWCLite, the
  multi-scale EPE loss and warping; registered with task="flow";
- task.py: FlowTask, scenes rendered on the fly for the one trainer (``task="flow"``); report.py:
  its report; estimate.py: flow between image files, TV-L1 and Lucas-Kanade on the same pairs;
- folders.py: the FlyingChairs and MPI-Sintel folder layouts, read into FlowPairs.
"""

from cnnkit.apps.flow.colour import colour_wheel, flow_legend, flow_to_colour
from cnnkit.apps.flow._correlation import Correlation, correlation
from cnnkit.apps.flow.flo import UNKNOWN_FLOW, read_flo, write_flo
from cnnkit.apps.flow.metrics import end_point_error
from cnnkit.apps.flow.scenes import FlowPair, SceneConfig, make_pair

__all__ = ["Correlation", "FlowPair", "SceneConfig", "UNKNOWN_FLOW", "colour_wheel", "correlation", "end_point_error", "flow_legend",
           "flow_to_colour", "make_pair", "read_flo", "write_flo"]

from cnnkit.models import register_task  # noqa: E402

register_task("flow", "cnnkit.apps.flow.task:FlowTask")
