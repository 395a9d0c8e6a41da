"""Weights: torchvision / timm state dicts <-> Flax variables, and the ImageNet download cache."""

from jaxres.weights import hub, imagenet, named
from jaxres.weights.state_dict_io import read_state_dict, write_state_dict
from jaxres.weights.torchvision import LoadReport, load_torchvision, save_torchvision, to_torchvision

__all__ = ["LoadReport", "hub", "imagenet", "named", "load_torchvision", "read_state_dict", "save_torchvision",
           "to_torchvision", "write_state_dict"]
