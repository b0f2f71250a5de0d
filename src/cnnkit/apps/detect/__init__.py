"""Object detection (lecture: detection; Girshick et al., CVPR 2014, R-CNN; Girshick, ICCV 2015, Fast
R-CNN). In progress (issue 16): the pieces below are built and tested; the detectors are not yet.

- boxes.py: IoU, R-CNN's box regression coding, greedy NMS (vectorised), per-class NMS;
- metrics.py: VOC average precision (11-point, all-point) and COCO mAP@[.5:.95];
- annotations.py: PASCAL VOC XML and COCO JSON, read with every field checked and written atomically;
- scenes.py: the synthetic set (shapes and Fashion-MNIST items on photographs, boxes and labels, a seed each);
- proposals.py: selective search (OpenCV's) and the recall-against-proposals curve;
- networks.py: R-CNN (warp with context, one pass per region) and Fast R-CNN (one pass per image,
  RoI pooling) on the zoo's FastNet, registered with task="detect"; inference.py: detection with
  per-stage timing; task.py: DetectTask for the one trainer (R-CNN's region sampling, Fast
  R-CNN's multi-task loss, VOC and COCO mAP on held-out scenes).
"""

from cnnkit.models import register_task

register_task("detect", "cnnkit.apps.detect.task:DetectTask")
