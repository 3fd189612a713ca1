"""`xpnet export RUN --onnx model.onnx [--overwrite]`: a trained model as an ONNX file, traced
through xpnet's own forward code (export/onnx.py), checked with onnxruntime, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ExportError
from ..export import export_onnx, load
from ..io import load_features


def cmd_export(args) -> int:
    out = Path(args.onnx)
    if out.exists() and not args.overwrite:  # before any work: the file stays as it is
        raise ExportError(f"--onnx {out}: exists; pass --overwrite to replace it")
    predictor = load(args.dir, backend="numpy")  # traced from host copies: any training backend will do
    sample = load_features(args.sample) if args.sample else None
    report = export_onnx(predictor, out, overwrite=args.overwrite, input_dtype=args.input_dtype, sample=sample)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"wrote {out}: {report['bytes']:,} bytes, {report['nodes']} nodes ({report['nodes_total']} with "
            f"subgraphs), {report['initializers']} initializers, input X ({report['input_dtype']}, N x "
            f"{predictor.n_in}), outputs {', '.join(report['outputs'])}; onnxruntime matches the predictor to "
            f"{report['max_difference']:.2g} on {report['sample_rows']} rows"
        )
    return 0
