"""A trained model leaves the workdir: `jaxres.load` from Python, ONNX and StableHLO graphs from the
original photo, a torchvision state dict."""
