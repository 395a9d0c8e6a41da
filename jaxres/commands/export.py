"""`export`: the best checkpoint as a StableHLO artifact, an ONNX model, a torchvision state dict or safetensors."""

from __future__ import annotations

import pathlib

from jaxres import export as exporters
from jaxres.commands import guards
from jaxres.commands.restore import load_trained


def export_command(task, args) -> int:
    out = pathlib.Path(args.out)
    guards.export_target(out, pathlib.Path(args.workdir), args.format, getattr(args, "force", False))
    config, model, objective, variables = load_trained(args.workdir)
    options = {}
    if args.format in ("stablehlo", "onnx"):
        options = {
            "image_size": int(config["objective"]["image_size"]),
            "channels": int(config["objective"].get("channels", 3)),
            "metadata": {"task": task.name, "classes": config["model"].get("classes"),
                         "objective": config["objective"]["kind"]},
        }
    written = exporters.export(args.format, model, variables, out, **options)
    print(f"wrote {written}")
    return 0
