"""Everything that reads or writes files, on the host with NumPy: data sets (dataset.py,
embedded.py, tabular.py for CSV/NPZ, idx.py for MNIST, loaders.py choosing among them), the
one seeded row split (split.py), xpnet's safe file container (arrays_file.py, npyio.py) and what
is stored in it: models (model_file.py) and training checkpoints (checkpoint_file.py)."""

from .arrays_file import load_arrays, save_arrays
from .dataset import Dataset
from .embedded import EMBEDDED_NAMES
from .loaders import load_dataset
from .memmap import open_memmap, save_mappable
from .model_file import load_model, model_from_record, model_record, save_model
from .split import split_rows, train_test_split
from .tabular import load_features

__all__ = [
    "EMBEDDED_NAMES",
    "Dataset",
    "load_arrays",
    "load_dataset",
    "load_features",
    "load_model",
    "model_from_record",
    "model_record",
    "open_memmap",
    "save_arrays",
    "save_mappable",
    "save_model",
    "split_rows",
    "train_test_split",
]
