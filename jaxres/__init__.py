"""jaxres: torchvision-exact ResNets in JAX/Flax with a shared training engine; subpackages and
`jaxres.load` are imported on first use, so `import jaxres` stays light."""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("cli", "config", "data", "errors", "export", "metrics", "models", "objectives", "platform", "train",
               "viz", "weights")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxres.{name}")
    if name == "load":  # jaxres.load("runs/face").predict("photo.jpg", box=[l, t, w, h])
        return importlib.import_module("jaxres.export.predictor").load
    raise AttributeError(f"module 'jaxres' has no attribute {name!r}")
