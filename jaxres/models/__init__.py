"""Torchvision-exact ResNet backbones and heads (Flax linen)."""

from jaxres.models.factory import ARCHS, create, init, variable_shapes
from jaxres.models.heads import HEADS
from jaxres.models.preprocess import normalize
from jaxres.models.resnet import GROUPS, STAGES, ResNet

__all__ = ["ARCHS", "GROUPS", "HEADS", "STAGES", "ResNet", "create", "init", "normalize", "variable_shapes"]
