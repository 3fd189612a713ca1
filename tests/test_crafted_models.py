"""Every crafted model file is one CheckpointError line, never a traceback: the container
(members, the metadata record's JSON), the model record (architecture, dtype) and the run record
`xpnet train` stores (task, loss, classes, standardisation) are each checked against a schema,
and against each other, before any of it is used. Most files are self-consistent (record and
checksum rewritten to match), so only the checks of what the fields say can refuse them. Each is
given to both `xpnet evaluate` and `xpnet predict --output`, in one process under a 1 GiB
address-space cap (tests/isolated.py); neither may leave a file behind."""

from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest
from crafted import XOR_X, make_run, read_members, rewrite_model, write_members, write_record
from isolated import assert_refused, run_cases, tree

from xpnet.backend import HostRandom, get_backend
from xpnet.errors import CheckpointError
from xpnet.io import load_model, save_model
from xpnet.io.arrays_file import META_KEY
from xpnet.nn import BatchNorm, Dense, Dropout, Identity, Layer, ReLU, Sequential, Sigmoid, Tanh

NUMPY = ["--backend", "numpy"]
DEEP = 100_000


def _run(r):
    return r["meta"]["metadata"]["xpnet_run"]


def _set_run(**fields):
    return lambda a, r: _run(r).update(fields)


def _std(edit):
    def apply(a, r):
        edit(_run(r)["standardize"])

    return apply


# name: (edit(arrays, record) on a self-consistent file, words of the refusal)
RECORD_EDITS = {
    "tensors a list": (lambda a, r: r.update(tensors=list(r["tensors"])), ["metadata.tensors is a list"]),
    "sha256 a number": (lambda a, r: r.update(sha256=5), ["metadata.sha256 is the number 5, expected a string"]),
    "format_version a string": (lambda a, r: r.update(format_version="1"), ["bad format_version '1'"]),
    "a shape of strings": (
        lambda a, r: r["tensors"]["params/0.W"].update(shape=["3", "4"]),
        ["metadata.tensors['params/0.W'].shape[0] is the string '3'"],
    ),
}
META_EDITS = {
    "not a model": (lambda a, r: r["meta"].update(kind="optimizer"), ["'optimizer' data, not a model"]),
    "architecture an object": (
        lambda a, r: r["meta"].update(architecture={"type": "Dense"}),
        ["meta.architecture is an object, expected a non-empty list"],
    ),
    "a layer without a type": (lambda a, r: r["meta"]["architecture"][0].pop("type"), ["has no field 'type'"]),
    "an unknown layer": (lambda a, r: r["meta"]["architecture"][1].update(type="Evil"), ["unknown or ambiguous"]),
    "an unknown dtype": (lambda a, r: r["meta"].update(dtype="float8"), ["meta.dtype is the string 'float8'"]),
    "a size as a string": (lambda a, r: r["meta"]["architecture"][0].update(n_in="3"), ["layer 0 (Dense)"]),
    "no run record": (lambda a, r: r["meta"].update(metadata={}), ["not a model written by xpnet train"]),
    "run record a list": (lambda a, r: r["meta"]["metadata"].update(xpnet_run=[1]), ["no run metadata"]),
    "classes a number": (_set_run(classes=3), ["run.classes is the number 3"]),
    "classes fewer than outputs (one name)": (_set_run(classes=["a"]), ["run.classes is a list of 1 item,"]),
    "classes null for a classifier": (_set_run(classes=None), ["run.classes is null, but a classifier"]),
    "classes more than outputs": (_set_run(classes=[0, 1, 2]), ["3 classes, but the model has 2 outputs"]),
    "a class named twice": (_set_run(classes=[1, "1"]), ["names a class twice"]),
    "standardize empty": (_set_run(standardize={}), ["run.standardize has no field 'mean'"]),
    "standardize a list": (_set_run(standardize=[0, 1]), ["run.standardize is a list of 2 items, expected an object"]),
    "mean of the wrong length": (_std(lambda s: s["mean"].pop()), ["run.standardize.mean is a list of 2 items"]),
    "a string mean": (_std(lambda s: s.update(mean=["0.5"] * 3)), ["run.standardize.mean[0] is the string '0.5'"]),
    "a zero std": (_std(lambda s: s["std"].__setitem__(1, 0.0)), ["run.standardize.std[1] is the number 0.0"]),
    "a negative std": (_std(lambda s: s["std"].__setitem__(2, -1)), ["run.standardize.std[2] is the number -1"]),
    "an unknown loss": (_set_run(loss="hinge"), ["run.loss is the string 'hinge', expected one of"]),
    "a loss of another task": (_set_run(loss="mse"), ["'mse' is a regression loss"]),
    "an unknown task": (_set_run(task="ranking"), ["run.task is the string 'ranking'"]),
    "a regression with classes": (_set_run(task="regression", loss="mse"), ["a regression model has no classes"]),
    "target_name a number": (_set_run(target_name=5), ["run.target_name is the number 5"]),
    "a bool as a number": (_std(lambda s: s["std"].__setitem__(0, True)), ["run.standardize.std[0] is true"]),
}


def _raw(d, how):
    """Files no edit of arrays and record can make: they are written member by member."""
    path = d / "model.npz"
    members = read_members(path)
    if how == "a member without the NPY magic":
        members["params/0.W.npy"] = b"these are not the bytes of an array"
    elif how == "a member that is not .npy":
        members["notes.txt"] = b"hello"
    elif how == "a member twice":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate it writes
            with zipfile.ZipFile(path, "a") as z:
                z.writestr("params/0.b.npy", members["params/0.b.npy"])
        return
    elif how == "metadata nested 100000 deep":
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        record = json.loads(arrays.pop(META_KEY).tobytes())
        record["meta"]["metadata"]["deep"] = "@"
        write_record(path, arrays, json.dumps(record).replace('"@"', "[" * DEEP + "]" * DEEP))
        return
    elif how == "a NaN in the record":
        rewrite_model(path, _std(lambda s: s["mean"].__setitem__(0, float("nan"))))
        return
    elif how == "a metadata record of floats":
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files if k != META_KEY}
        np.savez(path, **arrays, **{META_KEY: np.zeros(4)})
        return
    write_members(path, members)


RAW = {
    "a member without the NPY magic": ["member 'params/0.W.npy': not an NPY array"],
    "a member that is not .npy": ["member 'notes.txt' is not an .npy array"],
    "a member twice": ["member 'params/0.b.npy' appears twice"],
    "metadata nested 100000 deep": ["nests too deeply"],
    "a NaN in the record": ["not valid JSON (NaN is not JSON)"],
    "a metadata record of floats": ["metadata record has dtype float64"],
}
CASES = [*RECORD_EDITS, *META_EDITS, *RAW]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("crafted")
    (root / "in.csv").write_text("a,b,c\n0,1,1\n1,0,1\n")
    dirs, cases = {}, {}
    for n, name in enumerate(CASES):
        d = make_run(root / str(n))
        if name in RECORD_EDITS:
            rewrite_model(d / "model.npz", RECORD_EDITS[name][0], rehash=False)  # the record as edited
        elif name in META_EDITS:
            rewrite_model(d / "model.npz", META_EDITS[name][0])
        else:
            _raw(d, name)
        dirs[name] = d
        cases[f"evaluate: {name}"] = (["evaluate", d, "--dataset", "xor", *NUMPY], {})
        cases[f"predict: {name}"] = (["predict", d, "--input", root / "in.csv", "--output", d / "p.csv", *NUMPY], {})
    control = make_run(root / "control")
    rewrite_model(control / "model.npz", lambda a, r: None)  # rewritten as the cases are, unchanged
    cases["control"] = (["predict", control, "--input", root / "in.csv", "--output", control / "p.csv", *NUMPY], {})
    before = {name: tree(d) for name, d in dirs.items()}
    return dirs, before, run_cases(cases), control


def test_the_memory_bound_holds(results):
    assert results[2]["__bound__"] is True


def test_the_uncrafted_file_predicts(results):
    out, control = results[2]["control"], results[3]
    assert out["rc"] == 0, out["stderr"]
    assert (control / "p.csv").read_text().startswith("prediction,p_0,p_1")


@pytest.mark.parametrize("name", CASES)
def test_one_checkpoint_error_line(results, name):
    dirs, before, out, _ = results
    words = (RECORD_EDITS.get(name) or META_EDITS.get(name) or (None, RAW.get(name)))[1]
    for command in ("evaluate", "predict"):
        line = assert_refused(out[f"{command}: {name}"], str(dirs[name] / "model.npz"), *words)
        assert line.startswith("xpnet: error: ")
    assert tree(dirs[name]) == before[name]  # no predictions file, no temporary file


# --- the architecture's needs, known before building ------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [Dense(5, 3), Dense(5, 3, bias=False), BatchNorm(5), Dropout(0.2), ReLU(), Sigmoid(), Tanh(), Identity()],
    ids=repr,
)
def test_shapes_say_what_build_creates(layer):
    """Layer.shapes(n_in) is what build(n_in) creates, names and shapes, without allocating."""
    params, state, n_out = layer.build(5, rng=HostRandom(0), backend=get_backend("numpy"), dtype=np.float32)
    p_shapes, s_shapes, n = layer.shapes(5)
    assert n == n_out
    assert {k: tuple(v.shape) for k, v in params.items()} == p_shapes
    assert {k: tuple(v.shape) for k, v in state.items()} == s_shapes


class _Scaled(Layer):
    """A user's layer that builds a parameter but does not say its shape."""

    def build(self, n_in, *, rng, backend, dtype):
        return {"s": backend.asarray(np.ones(n_in), dtype)}, {}, n_in

    def forward(self, params, state, x, ctx):
        return x * params["s"], state, None


class _DenseWithScale(Dense):
    """A user's Dense that builds one more parameter, overriding build but not shapes."""

    def build(self, n_in, *, rng, backend, dtype):
        params, state, n_out = super().build(n_in, rng=rng, backend=backend, dtype=dtype)
        return {**params, "scale": backend.asarray(np.ones(1), dtype)}, state, n_out


def test_a_layer_without_shapes_is_checked_once_built(tmp_path):
    model = Sequential([Dense(3, 4), _Scaled(), _DenseWithScale(4, 2)], seed=0, backend="numpy")
    save_model(tmp_path / "m.npz", model)
    loaded, _ = load_model(tmp_path / "m.npz", backend="numpy")
    np.testing.assert_array_equal(np.asarray(loaded.params["1.s"]), np.ones(4, np.float32))
    assert set(loaded.params) == {"0.W", "0.b", "1.s", "2.W", "2.b", "2.scale"}
    rewrite_model(tmp_path / "m.npz", lambda a, r: a.update({"params/1.s": np.ones(5, np.float32)}))
    with pytest.raises(CheckpointError, match=r"'params/1.s' has shape \(5,\) dtype float32, the architecture needs"):
        load_model(tmp_path / "m.npz", backend="numpy")


# --- checkpoints given to train --resume --------------------------------------------------------


def _checkpoint(d):
    from xpnet import fit, mlp
    from xpnet.training import CheckpointCallback

    model = mlp([3, 4, 2], backend="numpy", seed=0)
    fit(model, np.array(XOR_X, float), np.array([0, 1, 1, 0]), epochs=1, callbacks=[CheckpointCallback(d)])
    return d / "checkpoint.npz"


def _arch(layers):
    return lambda a, r: r["meta"]["model"].update(architecture=layers)


CHECKPOINT_EDITS = {
    "Dense(40000, 40000)": (
        _arch(
            [
                {"type": "Dense", "n_in": 40000, "n_out": 40000},
                {"type": "ReLU"},
                {"type": "Dense", "n_in": 40000, "n_out": 2},
            ]
        ),
        ["checkpoint.npz", "needs (40000, 40000)"],
    ),
    "20002 layers": (_arch([{"type": "ReLU"}] * 20002), ["20002 layers", "XPNET_MAX_LAYERS"]),
    "epoch a string": (lambda a, r: r["meta"].update(epoch="three"), ["meta.epoch is the string 'three'"]),
    "has_best a string": (lambda a, r: r["meta"].update(has_best="yes"), ["meta.has_best is the string 'yes'"]),
    "model a list": (lambda a, r: r["meta"].update(model=[1]), ["meta.model is a list of 1 item"]),
    "best weights missing": (lambda a, r: r["meta"].update(has_best=True), ["best_params tensors do not fit"]),
}


def test_crafted_checkpoints_are_one_line_for_resume(tmp_path):
    cases, dirs = {}, {}
    for n, (name, (edit, _)) in enumerate(CHECKPOINT_EDITS.items()):
        d = tmp_path / str(n)
        rewrite_model(_checkpoint(d), edit)
        cases[name] = (["train", "--dataset", "xor", "--resume", d, *NUMPY], {})
        dirs[name] = (d, tree(d))
    out = run_cases(cases)
    assert out["__bound__"] is True
    for name, (_, words) in CHECKPOINT_EDITS.items():
        assert_refused(out[name], *words)
        assert tree(dirs[name][0]) == dirs[name][1], name


def test_metadata_nesting_is_bounded_when_written_too(tmp_path):
    """What loading refuses is refused when saving: a record nested too deeply is never written."""
    from xpnet.errors import ConfigError
    from xpnet.io import load_arrays, save_arrays

    def nested(n):
        value = 1
        for _ in range(n):
            value = [value]
        return value

    save_arrays(tmp_path / "ok.npz", {"x": np.ones(2)}, {"deep": nested(62)})  # meta 63 levels deep
    assert load_arrays(tmp_path / "ok.npz")[1]["deep"] == nested(62)
    with pytest.raises(ConfigError, match="meta: nests more than 63 levels deep"):
        save_arrays(tmp_path / "deep.npz", {"x": np.ones(2)}, {"deep": nested(63)})
    assert not (tmp_path / "deep.npz").exists()


MODEL_LEVEL = [*RECORD_EDITS, *list(META_EDITS)[:6], *RAW]  # what load_model itself reads (not the run record)


@pytest.mark.parametrize("name", MODEL_LEVEL)
def test_load_model_raises_checkpoint_error(tmp_path, name):
    d = make_run(tmp_path / "run")
    if name in RECORD_EDITS:
        rewrite_model(d / "model.npz", RECORD_EDITS[name][0], rehash=False)
    elif name in META_EDITS:
        rewrite_model(d / "model.npz", META_EDITS[name][0])
    else:
        _raw(d, name)
    with pytest.raises(CheckpointError) as info:
        load_model(d / "model.npz", backend="numpy")
    assert "\n" not in str(info.value) and str(d / "model.npz") in str(info.value)


@pytest.mark.parametrize("name", [n for n in META_EDITS if n != "no run record"])  # that one is a bare model
def test_xpnet_load_refuses_them_too(tmp_path, name):
    """xpnet.load (the predictor of a run) reads the same records: the same refusals, in one line."""
    import xpnet

    d = make_run(tmp_path / "run")
    rewrite_model(d / "model.npz", META_EDITS[name][0])
    with pytest.raises(CheckpointError) as info:
        xpnet.load(d, backend="numpy")
    assert "\n" not in str(info.value) and str(info.value).startswith(str(d / "model.npz"))
