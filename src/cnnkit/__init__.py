"""cnnkit: build, train, explain and attack convolutional neural networks.

The package imports no torch at the top level so that ``cnnkit --help`` starts fast;
the sub-packages (``cnnkit.models``, ``cnnkit.data``, ``cnnkit.train``, ...) do.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
