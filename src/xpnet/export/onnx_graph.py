"""Tidying a traced ONNX graph, without changing what it computes: weights become initializers,
ndonnx's guards around matrix products are unwrapped, and nodes nobody reads are dropped.

ndonnx hides every `a @ b` inside an If that returns zeros when an input is empty (it works
around onnxruntime failures on zero-size products, ndonnx PRs 102 and 135, in
`_matmul_mitigate_zero_sized`); each guard is a subgraph of about 150 nodes that the shape
arithmetic for the empty case needs. The failures reported are for an empty inner dimension
(onnxruntime issue 21483, CUDA and DirectML) and zero-size batch dimensions of stacked products
(PR 25663); a Dense layer's product is (N, n) @ (n, m) with n, m >= 1 fixed by the weights, whose
empty-output case (N = 0) onnxruntime's CPU kernels handle since PR 4573 (2020). So only guards
whose right operand is a weight initializer without a zero dimension are unwrapped, and the
exporter runs the graph on an empty batch as well as on sample rows before it writes anything.
"""

from __future__ import annotations

import copy


def weights_as_initializers(proto, host: dict, onnx) -> None:
    """Graph inputs named after the parameters (host: name -> NumPy array) and the top-level
    Constant nodes become initializers: the weights are data in the file, X the only input."""
    graph = proto.graph
    inputs = [i for i in graph.input if i.name not in host]
    initializers = [onnx.numpy_helper.from_array(v, name=k) for k, v in host.items()]
    nodes = []
    for node in graph.node:
        value = [a for a in node.attribute if a.name == "value"] if node.op_type == "Constant" else []
        if value and len(node.attribute) == 1 and value[0].type == onnx.AttributeProto.TENSOR:
            tensor = copy.deepcopy(value[0].t)
            tensor.name = node.output[0]
            initializers.append(tensor)
        else:
            nodes.append(node)
    _replace(graph.input, inputs)
    _replace(graph.node, nodes)
    graph.initializer.extend(initializers)


def unwrap_matmul_guards(proto, onnx) -> int:
    """Replace each If whose else branch is just MatMul(a, W) (then Identity), W an initializer
    of non-zero sizes, by that MatMul on the same names; returns how many. The condition's nodes
    are left for drop_unused."""
    graph, count, nodes = proto.graph, 0, []
    weights = {t.name for t in graph.initializer if len(t.dims) == 2 and all(d > 0 for d in t.dims)}
    for node in graph.node:
        branch = _else_branch(node)
        body = [n for n in branch.node] if branch is not None else []
        if (
            len(body) == 2
            and body[0].op_type == "MatMul"
            and body[0].input[1] in weights
            and body[1].op_type == "Identity"
            and list(body[1].input) == [body[0].output[0]]
            and [o.name for o in branch.output] == [body[1].output[0]]
            and len(node.output) == 1
        ):
            nodes.append(onnx.helper.make_node("MatMul", list(body[0].input), [node.output[0]], name=node.name))
            count += 1
        else:
            nodes.append(node)
    _replace(graph.node, nodes)
    return count


def drop_unused(proto) -> None:
    """Remove nodes none of whose outputs is read (by a node, a subgraph or the graph's outputs),
    then the initializers nobody reads."""
    graph = proto.graph
    while True:
        used = _names_read(graph) | {o.name for o in graph.output}
        keep = [n for n in graph.node if any(o in used for o in n.output)]
        if len(keep) == len(graph.node):
            break
        _replace(graph.node, keep)
    used = _names_read(graph) | {o.name for o in graph.output}
    _replace(graph.initializer, [t for t in graph.initializer if t.name in used])


def _names_read(graph) -> set[str]:
    names = set()
    for node in graph.node:
        names.update(node.input)
        for a in node.attribute:
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                names |= _names_read(g)  # a subgraph may read the outer graph's names
    return names


def _else_branch(node):
    if node.op_type != "If":
        return None
    for a in node.attribute:
        if a.name == "else_branch":
            return a.g
    return None


def _replace(field, items) -> None:
    items = list(items)
    del field[:]
    field.extend(items)


def graph_counts(proto) -> dict[str, int]:
    """nodes (top level), nodes_total (subgraphs of If/Loop included), initializers."""

    def count(graph) -> int:
        total = 0
        for node in graph.node:
            total += 1
            for a in node.attribute:
                for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    total += count(g)
        return total

    return {
        "nodes": len(proto.graph.node),
        "nodes_total": count(proto.graph),
        "initializers": len(proto.graph.initializer),
    }
