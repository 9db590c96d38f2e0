#!/usr/bin/env python3
"""Trains a small ranking model with numpy and exports it as ONNX for Cascade's `OnnxScorer`.

The model is a logistic regression (`--hidden 0`) or a one-hidden-layer MLP (`--hidden H`,
ReLU) over a declared feature set, trained by plain mini-batch gradient descent on the logistic
loss (a row is positive when its label is above 0) with a fixed seed, so the same data and
options give the same model.

Input, one of:
  --data TSV             rows as `cascade eval --export-ranking-data TSV` writes them: a header
                         `label<TAB>group<TAB>feature names...`, then one row per candidate,
                         `nan` for a missing value;
  --synthetic W --rows N a seeded synthetic set of N rows of W features named item.f0..item.fW-1
                         (queries of 100 rows; the benchmark model).

The model contract (what crates/cascade-rank/src/onnx.rs relies on):
  * input `features`, float32 [batch, width]; output `score`, float32 [batch, 1], a sigmoid;
  * a missing value (NaN) is imputed as 0 before the graph: the script trains on NaN -> 0 and
    the caller replaces NaN by 0.0 before running the graph, which itself has no NaN handling;
  * the features are standardised with the mean and standard deviation of the (imputed)
    training rows, folded into the first MatMul/Add, so the graph takes the raw values;
  * metadata_props `cascade.features`: the feature names, comma-separated, in column order.

It needs numpy and onnx only; keep them out of the repository:

    python3 -m venv /tmp/onnxenv && /tmp/onnxenv/bin/pip install numpy onnx
    cargo run --release -p cascade -- eval --export-ranking-data /tmp/rank.tsv
    /tmp/onnxenv/bin/python scripts/train-onnx-ranker.py --data /tmp/rank.tsv \\
        --out models/goodbooks-ranker.onnx \\
        --reference-out crates/cascade-infer/tests/fixtures/onnx-reference.json
    /tmp/onnxenv/bin/python scripts/train-onnx-ranker.py --synthetic 50 --rows 20000 \\
        --hidden 64 --out models/bench-50.onnx

`--reference-out JSON` also writes a few input rows (NaN already replaced by 0) and the outputs
that onnx's reference evaluator (`onnx.reference.ReferenceEvaluator`) gives for them, which the
Rust tests compare tract's outputs against. `--declare NAMES` overrides the `cascade.features`
metadata (an empty string leaves it out), for test fixtures of malformed models.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

OPSET = 13
IR_VERSION = 8
FEATURES_KEY = "cascade.features"
QUERY_ROWS = 100


def load_tsv(path):
    """(features float64 [rows, width] with NaN, labels [rows], groups [rows], names)."""
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
    if len(header) < 3 or header[0] != "label" or header[1] != "group":
        sys.exit(f"{path}: the header must be label<TAB>group<TAB>feature names..., got {header[:3]}")
    names = header[2:]
    data = np.loadtxt(path, delimiter="\t", skiprows=1, dtype=np.float64, ndmin=2)
    if data.shape[0] == 0:
        sys.exit(f"{path}: no rows")
    if data.shape[1] != len(header):
        sys.exit(f"{path}: rows have {data.shape[1]} columns, the header {len(header)}")
    return data[:, 2:], data[:, 0], data[:, 1].astype(np.int64), names


def synthetic(width, rows, seed):
    """Uniform features, 5% of them missing; the top fifth by a noisy signal of a few of them
    is positive."""
    if width < 4:
        sys.exit("--synthetic needs at least 4 features")
    rng = np.random.default_rng(seed)
    x = rng.random((rows, width))
    signal = 2.0 * x[:, 0] + x[:, 1] * x[:, 2] + np.abs(x[:, 3] - 0.5) + 0.5 * rng.random(rows)
    labels = (signal > np.quantile(signal, 0.8)).astype(np.float64)
    x[rng.random((rows, width)) < 0.05] = np.nan
    groups = np.arange(rows) // QUERY_ROWS
    names = [f"item.f{i}" for i in range(width)]
    return x, labels, groups, names


def impute(x):
    """NaN -> 0: what the caller does before running the graph."""
    return np.where(np.isnan(x), 0.0, x)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def auc(scores, positive):
    """Area under the ROC curve (Mann-Whitney U, ties counted half)."""
    pos = int(positive.sum())
    neg = len(positive) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[positive].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def log_loss(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


class Model:
    """Standardisation + (MLP | logistic regression), float64 while training."""

    def __init__(self, width, hidden, rng, mean, std):
        self.mean, self.std = mean, std
        self.hidden = hidden
        if hidden > 0:
            self.w1 = rng.normal(0.0, np.sqrt(2.0 / width), (width, hidden))
            self.b1 = np.zeros(hidden)
            self.w2 = rng.normal(0.0, np.sqrt(1.0 / hidden), (hidden, 1))
        else:
            self.w2 = np.zeros((width, 1))
        self.b2 = np.zeros(1)

    def forward(self, x):
        """Logits and the hidden activations, for raw imputed rows."""
        z = (x - self.mean) / self.std
        h = np.maximum(z @ self.w1 + self.b1, 0.0) if self.hidden > 0 else z
        return (h @ self.w2 + self.b2)[:, 0], z, h

    def step(self, x, y, lr, l2):
        logits, z, h = self.forward(x)
        d = (sigmoid(logits) - y)[:, None] / len(y)
        grad_w2 = h.T @ d + l2 * self.w2
        grad_b2 = d.sum(axis=0)
        if self.hidden > 0:
            dh = (d @ self.w2.T) * (h > 0)
            self.w1 -= lr * (z.T @ dh + l2 * self.w1)
            self.b1 -= lr * dh.sum(axis=0)
        self.w2 -= lr * grad_w2
        self.b2 -= lr * grad_b2

    def predict(self, x):
        return sigmoid(self.forward(x)[0])

    def folded(self):
        """(W, b) of the first layer with the standardisation folded in: raw x @ W + b."""
        first_w = self.w1 if self.hidden > 0 else self.w2
        first_b = self.b1 if self.hidden > 0 else self.b2
        w = first_w / self.std[:, None]
        b = first_b - (self.mean / self.std) @ first_w
        return w, b


def train(x, y, args, rng):
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-12] = 1.0
    model = Model(x.shape[1], args.hidden, rng, mean, std)
    rows = len(y)
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(rows)
        for start in range(0, rows, args.batch):
            batch = order[start : start + args.batch]
            model.step(x[batch], y[batch], args.lr, args.l2)
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
            p = model.predict(x)
            print(
                f"epoch {epoch:4d}/{args.epochs}: train loss {log_loss(p, y):.5f}, "
                f"AUC {auc(p, y > 0.5):.4f} ({time.time() - started:.1f} s)",
                flush=True,
            )
    return model


def to_onnx(model, names, declared, producer_note):
    width = len(names)
    w, b = model.folded()
    inits = [
        numpy_helper.from_array(w.astype(np.float32), "w1"),
        numpy_helper.from_array(b.astype(np.float32), "b1"),
    ]
    nodes = [
        helper.make_node("MatMul", ["features", "w1"], ["z1"], name="matmul1"),
        helper.make_node("Add", ["z1", "b1"], ["a1"], name="add1"),
    ]
    last = "a1"
    if model.hidden > 0:
        inits += [
            numpy_helper.from_array(model.w2.astype(np.float32), "w2"),
            numpy_helper.from_array(model.b2.astype(np.float32), "b2"),
        ]
        nodes += [
            helper.make_node("Relu", ["a1"], ["h1"], name="relu1"),
            helper.make_node("MatMul", ["h1", "w2"], ["z2"], name="matmul2"),
            helper.make_node("Add", ["z2", "b2"], ["a2"], name="add2"),
        ]
        last = "a2"
    nodes.append(helper.make_node("Sigmoid", [last], ["score"], name="sigmoid"))
    graph = helper.make_graph(
        nodes,
        "cascade-ranker",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 1])],
        initializer=inits,
    )
    onnx_model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="cascade scripts/train-onnx-ranker.py",
        doc_string=(
            "Ranking score in (0, 1) over raw feature values; a missing value (NaN) must be "
            "given as 0. " + producer_note
        ),
    )
    props = {"cascade.nan": "0"}
    if declared is None:
        props[FEATURES_KEY] = ",".join(names)
    elif declared != "":
        props[FEATURES_KEY] = declared
    helper.set_model_props(onnx_model, props)
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def reference(onnx_model, rows, path, names):
    """Writes rows and onnx's reference outputs for them as the Rust tests' fixture."""
    rows = impute(rows).astype(np.float32)
    outputs = ReferenceEvaluator(onnx_model).run(None, {"features": rows})[0]
    fixture = {
        "note": "inputs (NaN already replaced by 0) and onnx.reference.ReferenceEvaluator "
        "outputs, written by scripts/train-onnx-ranker.py --reference-out",
        "features": names,
        "rows": [[float(v) for v in row] for row in rows],
        "outputs": [float(v) for v in outputs.reshape(-1)],
    }
    Path(path).write_text(json.dumps(fixture, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(rows)} reference rows to {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="training rows (TSV from cascade eval --export-ranking-data)")
    source.add_argument("--synthetic", type=int, metavar="WIDTH", help="a synthetic set of WIDTH features")
    parser.add_argument("--rows", type=int, default=20000, help="rows of the synthetic set")
    parser.add_argument("--out", required=True, help="the ONNX file to write")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units; 0: logistic regression")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=512, help="rows per gradient step")
    parser.add_argument("--lr", type=float, default=0.05, help="learning rate")
    parser.add_argument("--l2", type=float, default=1e-4, help="L2 penalty on the weights")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="queries held out for metrics")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reference-out", help="also write reference rows and outputs (JSON)")
    parser.add_argument("--reference-rows", type=int, default=8)
    parser.add_argument("--declare", help="the cascade.features value to write ('' leaves it out)")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    if args.data:
        x, labels, groups, names = load_tsv(args.data)
        origin = f"trained on {args.data}"
    else:
        x, labels, groups, names = synthetic(args.synthetic, args.rows, args.seed)
        origin = f"trained on a synthetic set (seed {args.seed})"
    y = (labels > 0).astype(np.float64)
    query_ids = np.unique(groups)
    valid_ids = rng.choice(query_ids, int(len(query_ids) * args.valid_fraction), replace=False)
    valid = np.isin(groups, valid_ids)
    print(
        f"{len(y)} rows in {len(query_ids)} queries, {len(names)} features, "
        f"{int(y.sum())} positive; {int(valid.sum())} rows in {len(valid_ids)} queries held out"
    )
    xi = impute(x)
    model = train(xi[~valid], y[~valid], args, rng)
    for name, mask in (("train", ~valid), ("valid", valid)):
        if mask.any():
            p = model.predict(xi[mask])
            print(f"{name}: loss {log_loss(p, y[mask]):.5f}, AUC {auc(p, y[mask] > 0.5):.4f}")

    onnx_model = to_onnx(model, names, args.declare, origin)
    onnx.save(onnx_model, args.out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")

    if args.reference_out:
        picked = np.flatnonzero(valid if valid.any() else ~valid)[: args.reference_rows]
        rows = x[picked]
        got = ReferenceEvaluator(onnx_model).run(None, {"features": impute(rows).astype(np.float32)})[0]
        want = model.predict(impute(rows))
        print(f"ONNX graph vs numpy model on the reference rows: max abs diff {np.abs(got[:, 0] - want).max():.2e}")
        reference(onnx_model, rows, args.reference_out, names)


if __name__ == "__main__":
    main()
