"""Voxel networks (lecture: point clouds and volumes; Wu et al., CVPR 2015, 3D ShapeNets; Maturana &
Scherer, 2015, VoxNet). A classifier and a completion model ship in cnnkit/weights/voxels-classify and
voxels-complete; ``cnnkit voxels train --data`` trains on a ModelNet folder instead of the solids.

- off.py: OFF meshes (ModelNet's format), read with every field checked and written atomically;
- modelnet.py: the ModelNet10/40 folder layout (<class>/train|test/*.off);
- voxelize.py: a mesh centred and scaled into 24^3 of a 30^3 grid, filled exactly for closed meshes
  (ray parity), surface-and-fill for open ones; .npy grids read and checked;
- solids.py: ten parametric solids at random rotations, sizes and aspects, from a seed;
- views.py: an orthographic depth view of a grid, and its back-projection into observed
  occupied, observed free and unknown voxels;
- networks.py: 3D ShapeNets (classifier; completion by an encoder-decoder) with a width
  multiplier, and VoxNet, registered with task="voxels";
- task.py: VoxelTask for the one trainer (classify or complete; cached solids, the cube's 48
  symmetries as augmentation, IoU beside the observed-only and column baselines);
- files.py: classify and complete files (.off or .npy) for ``cnnkit voxels``, the completion figure;
  report.py: a run's report.html.
"""

from cnnkit.models import register_task  # noqa: E402

register_task("voxels", "cnnkit.apps.voxels.task:VoxelTask")
