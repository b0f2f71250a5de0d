"""Model families, one file each, all created through the registry (``create_model``).

Importing this package imports every family file so that their ``@register_model``
decorators run.
"""

from cnnkit.models import fastnet, googlenet, lenet, resnet  # noqa: F401  (registers the models)
from cnnkit.models._registry import (
    ModelDescription,
    ModelEntry,
    create_model,
    describe_models,
    get_model_entry,
    list_models,
    register_model,
)

__all__ = [
    "ModelDescription",
    "ModelEntry",
    "create_model",
    "describe_models",
    "get_model_entry",
    "list_models",
    "register_model",
]
