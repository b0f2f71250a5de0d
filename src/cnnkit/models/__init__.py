"""Model families, one file each, all created through the registry (``create_model``).

Importing this package imports every family file so that their ``@register_model``
decorators run.
"""

from cnnkit.models import alexnet, coatnet, fastnet, googlenet, lenet, lenet1998, resnet, vgg  # noqa: F401  (registers)
from cnnkit.models._registry import (
    ModelDescription,
    ModelEntry,
    create_model,
    describe_models,
    get_model_entry,
    list_models,
    register_model,
    register_task,
)

__all__ = [
    "ModelDescription",
    "ModelEntry",
    "create_model",
    "describe_models",
    "get_model_entry",
    "list_models",
    "register_model",
    "register_task",
]
