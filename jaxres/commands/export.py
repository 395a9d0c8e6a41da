"""`export`: the best checkpoint as a StableHLO artifact, an ONNX model, a torchvision state dict or safetensors."""

from __future__ import annotations

import pathlib

from jaxres import export as exporters
from jaxres.commands import guards
from jaxres.commands.restore import trained


def export_command(task, args) -> int:
    out = pathlib.Path(args.out)
    guards.export_target(out, pathlib.Path(args.workdir), args.format, getattr(args, "force", False))
    built, variables = trained(args.workdir)
    options = {}
    if args.format in ("stablehlo", "onnx"):
        options = {
            "image_size": built.objective.size,
            "channels": built.objective.channels,
            "metadata": {"task": task.name, "classes": built.facts.classes, "objective": built.config["objective"]["kind"]},
        }
    written = exporters.export(args.format, built.model, variables, out, **options)
    print(f"wrote {written}")
    return 0
