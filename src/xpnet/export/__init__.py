"""A trained model in use: the predictor (predictor.py: standardisation, network, output
activation, class labels, from a run directory or model file) and its ONNX export (onnx.py: the
predictor's own array-API code run on ndonnx arrays, checked with onnxruntime)."""

from .onnx import export_onnx
from .predictor import MODEL_FILE, RUN_KEY, Predictor, load

__all__ = ["MODEL_FILE", "RUN_KEY", "Predictor", "export_onnx", "load"]
