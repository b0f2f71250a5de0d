"""Super-resolution (lecture: applications; Dong et al., ECCV 2014 / TPAMI 2016): the network
restores the luminance of a bicubic-upscaled image; colour stays bicubic.

- color.py: RGB <-> YCbCr as the SRCNN papers compute it (ITU-R BT.601, MATLAB's rgb2ycbcr);
- metrics.py: PSNR and SSIM on Y with the border cropped as the papers do;
- networks.py: SRCNN 9-1-5 / 9-3-5 / 9-5-5, FSRCNN (Dong et al., ECCV 2016), ESPCN (Shi et al., CVPR
  2016) and espcn_residual, the shipped default; registered with task="superres";
- resize.py: antialiased bicubic (MATLAB's and Pillow's kernel); degradation.py: bicubic, blur, jpeg, noise;
- upscale.py: super_resolve, any size and mode, in tiles;
- task.py: SuperResolutionTask, patches drawn on the fly for the one trainer (``task="superres"``);
- photos.py: scikit-image's photographs, folders, image files of any mode; models.py: the shipped
  models and run directories, sr_train_config; files.py: upscaling files, evaluation beside bicubic
  and Lanczos; report.py: the run's report and the crops figure.
"""

from cnnkit.apps.superres.color import rgb_to_ycbcr, ycbcr_to_rgb
from cnnkit.apps.superres.degradation import DEGRADATIONS, degrade, parse_degradation
from cnnkit.apps.superres.metrics import psnr, shave, ssim
from cnnkit.apps.superres.networks import ESPCN, FSRCNN, SRCNN
from cnnkit.apps.superres.resize import bicubic, check_scale
from cnnkit.apps.superres.upscale import restore_luminance, super_resolve

__all__ = ["DEGRADATIONS", "ESPCN", "FSRCNN", "SRCNN", "bicubic", "check_scale", "degrade", "parse_degradation", "psnr",
           "restore_luminance", "rgb_to_ycbcr", "shave", "ssim", "super_resolve", "ycbcr_to_rgb"]

from cnnkit.models import register_task  # noqa: E402

register_task("superres", "cnnkit.apps.superres.task:SuperResolutionTask")
