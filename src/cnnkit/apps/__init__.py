"""The lecture's applications beyond classification, one package each (DESIGN.md): each brings its
Task for the one trainer, its models, its data formats and its metrics."""

from cnnkit.apps import superres  # noqa: F401,E402  (registers its models and its Task)
from cnnkit.apps.flow import networks as _flow_networks  # noqa: F401,E402  (registers the flow models and Task)
from cnnkit.apps.detect import networks as _detect_networks  # noqa: F401,E402  (registers the detectors and Task)
from cnnkit.apps.voxels import networks as _voxel_networks  # noqa: F401,E402  (registers the voxel networks)
