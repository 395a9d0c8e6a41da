"""`export`: the best checkpoint as an end-to-end StableHLO or ONNX model (the original photo in, the
prediction in its pixels out), a torchvision state dict (with the lines that load it) or safetensors."""

from __future__ import annotations

import pathlib

from jaxres.export import artifacts as exporters
from jaxres.cli.commands import guards
from jaxres.train.restore import overrides_of
from jaxres.export.predictor import load


def export_command(task, args) -> int:
    out = pathlib.Path(args.out)
    guards.export_target(out, pathlib.Path(args.workdir), args.format, getattr(args, "force", False))
    predictor = load(args.workdir, overrides_of(args))
    written = exporters.export_photo(args.format, predictor.model, predictor.objective, predictor.variables, out,
                                     predictor.metadata(task.name))
    print(f"wrote {written}")
    if args.format == "torchvision":
        recipe = exporters.sidecar_path(written, ".txt")
        print(f"load it in PyTorch with these lines (also in {recipe}):\n{recipe.read_text()}", end="")
    return 0
