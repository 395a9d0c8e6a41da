"""jaxres: torchvision-exact ResNets in JAX/Flax, with a shared training engine.

`import jaxres` stays light: subpackages are imported on first use, so reading data or metrics
does not pay for (or require) the heavier pieces.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("models", "weights", "data", "train", "metrics", "export", "viz", "cli", "errors")


def load(workdir, overrides=None):
    """A trained workdir as a predictor: `jaxres.load("runs/face").predict("photo.jpg", box=[l, t, w, h])`
    (see `jaxres.export.predictor`)."""
    from jaxres.export.predictor import load as _load

    return _load(workdir, overrides)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxres.{name}")
    raise AttributeError(f"module 'jaxres' has no attribute {name!r}")
