"""The command line's options: one argparse parser with a sub-command each."""

from __future__ import annotations

import argparse

from ..version import __version__
from . import catalog, evaluate, info, predict, train
from . import export as export_cmd
from .flags import OneLineParser


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--backend",
        default=None,
        help="array library: auto, numpy, array_api_strict, torch, cupy, jax (default: $XPNET_BACKEND or auto)",
    )
    p.add_argument(
        "--device",
        default=None,
        help="cpu, gpu or cuda:N (CuPy, else torch's CUDA), or a backend's device such as device1; "
        "torch on the CPU runs half the cores, at most 4: XPNET_NUM_THREADS=N to change",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(  # its errors in one line; the sub-commands' parsers are of its class
        prog="xpnet", description="Train neural networks on NumPy, CuPy, PyTorch or array-api-strict."
    )
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("backends", help="list array backends and whether they are usable here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=catalog.cmd_backends)

    p = sub.add_parser("datasets", help="list the embedded data sets: shape, task and source")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=catalog.cmd_datasets)

    p = sub.add_parser("example", help="run one of the seed programs")
    p.add_argument("name", help="single-neuron, two-layer, three-layer or cross-entropy")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="cross-entropy only: save the loss curve there (.png, .pdf, .svg...; needs matplotlib)",
    )
    p.set_defaults(func=catalog.cmd_example)

    p = sub.add_parser("train", help="train a network on a data set and write DIR/ (model, history, curves)")
    p.add_argument(
        "--dataset",
        required=True,
        help="embedded name (xor, seed-and, seed-single, digits, iris, "
        "wine, breast-cancer) or a .csv (with --target), .npz (X, y) or MNIST IDX path",
    )
    p.add_argument("--target", help="CSV: the column holding the labels or values")
    p.add_argument("--layers", default="64", help="hidden layer sizes, e.g. 64,32 (default 64; '' for none)")
    p.add_argument("--activation", default="relu", help="relu, tanh, sigmoid, leaky_relu, ... (default relu)")
    p.add_argument(
        "--loss",
        help="softmax_cross_entropy or bce_logits (classification), mse or half_sse "
        "(regression); default: inferred from the data set",
    )
    p.add_argument("--optimizer", default="adam", help="sgd, momentum, nesterov, rmsprop, adam, adamw (default adam)")
    p.add_argument("--lr", type=float, help="learning rate (default: the optimizer's)")
    p.add_argument(
        "--lr-schedule",
        default="constant",
        help="constant (default), cosine (to 0 over the run), step (/10 after each third), exponential "
        "(to 1%% of --lr), warmup-cosine (linear warm-up over 5%% of the steps, then cosine)",
    )
    p.add_argument("--momentum", type=float, help="sgd/momentum/nesterov/rmsprop momentum")
    p.add_argument("--batch-size", type=int, default=32, help="samples per step (default 32)")
    p.add_argument("--epochs", type=int, default=20, help="passes over the training data (default 20)")
    p.add_argument("--dropout", type=float, default=0.0, help="dropout rate after each hidden layer, in [0, 1)")
    p.add_argument("--batchnorm", action="store_true", help="batch normalisation after each hidden Dense")
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty rate on the weights (not biases)")
    p.add_argument("--clip-norm", type=float, help="clip gradients to this global norm")
    p.add_argument("--seed", type=int, default=0, help="initial weights, shuffling, split and dropout")
    p.add_argument(
        "--device-rng",
        action="store_true",
        help="draw shuffles and dropout masks with the "
        "library's own generator (torch, cupy; always on a GPU) instead of NumPy on the host",
    )
    p.add_argument("--dtype", default="float32", help="float32 (default), float64, float16 or bfloat16")
    p.add_argument(
        "--max-memory",
        metavar="SIZE",
        help="refuse a run estimated to need more (e.g. 64G; default: the memory available; none: no check)",
    )
    p.add_argument(
        "--precision",
        choices=("mixed-bf16", "mixed-f16"),
        help="mixed precision: forward and backward in bfloat16 or float16 around float32 weights and "
        "optimizer state (mixed-f16 with dynamic loss scaling); default: everything in --dtype",
    )
    _add_backend_args(p)
    p.add_argument(
        "--val-split",
        type=float,
        help="fraction held out for validation (default 0.2, 0 for data sets under 100 samples)",
    )
    p.add_argument("--patience", type=int, help="stop after this many epochs without improvement")
    p.add_argument("--out", help="output directory (default runs/DATASET)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out directory")
    p.add_argument("--checkpoint-every", type=int, metavar="N", help="save a training checkpoint in DIR every N epochs")
    p.add_argument("--resume", metavar="DIR", help="continue the interrupted run in DIR (repeat its command line)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print one JSON object with the results")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="one of N processes training as one (mpiexec -n N xpnet train ... --distributed; needs xpnet[mpi])",
    )
    p.set_defaults(func=train.cmd_train)

    p = sub.add_parser("evaluate", help="loss and metrics of a trained model on a data set")
    p.add_argument("dir", help="the --out directory of xpnet train")
    p.add_argument("--dataset", required=True, help="embedded name or file, as for train")
    p.add_argument("--target", help="CSV: the target column (default: the one used in training)")
    p.add_argument(
        "--split",
        help="rows to score: val (the rows training held out; the default on the training data set), "
        "train, or all (the default on other data)",
    )
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=evaluate.cmd_evaluate)

    p = sub.add_parser("predict", help="predictions of a trained model for the rows of a file")
    p.add_argument("dir", help="the --out directory of xpnet train")
    p.add_argument("--input", required=True, help=".csv (header optional), .npz with X, or .npy features")
    p.add_argument("--output", help=".csv or .npz file (default: CSV on stdout)")
    _add_backend_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (rows, output file)")
    p.set_defaults(func=predict.cmd_predict)

    p = sub.add_parser("info", help="a trained model's layers, parameters, data set, options and final metrics")
    p.add_argument("dir", help="the --out directory of xpnet train (or its model.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=info.cmd_info)

    p = sub.add_parser("export", help="write a trained model as an ONNX file (needs xpnet[onnx])")
    p.add_argument("dir", help="the --out directory of xpnet train (or its model.npz)")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    p.add_argument(
        "--input-dtype", choices=("float16", "float32", "float64"), help="dtype of input X (default: the model's)"
    )
    p.add_argument(
        "--sample", metavar="FILE", help="rows to check the graph on, as for predict --input (default: 64 drawn)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object (file size, node count, difference)")
    p.set_defaults(func=export_cmd.cmd_export)
    return parser
