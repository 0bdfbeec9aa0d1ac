"""Train a small MLP on scikit-learn's digits, one epoch at a time, and print its accuracy.

Each epoch prints ``epoch=<k> val_acc=<x>`` (the tuner's objective, read by a regex) and
the end prints ``test_acc=<x>``: the test split is never used to choose anything, so it
stays an honest estimate of the chosen model. The model is saved to
``$TUNEFORGE_TRIAL_DIR/model.pkl`` (the current folder when run by hand), with the number
of epochs it was trained in ``checkpoint.json``.

A trial that continues an earlier one (a ``hyperband`` promotion: the same configuration
on more epochs) gets that trial's folder in ``$TUNEFORGE_RESUME_DIR``; the script then
starts from the model saved there and trains only the epochs it lacks.

Example:
    python train.py --lr 0.01 --batch-size 32 --optimizer adam --epochs 10
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SEED = 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=1e-3, help="initial learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--optimizer", choices=["sgd", "adam"], default="adam")
    parser.add_argument("--momentum", type=float, default=0.9, help="used by sgd only")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 penalty (weight decay)")
    parser.add_argument("--hidden", type=int, default=64, help="units in the hidden layer")
    parser.add_argument("--epochs", type=int, default=20)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    digits = load_digits()
    x = digits.data / 16.0  # pixel values are 0..16
    y = digits.target
    # 60% train, 20% validation (the tuner's objective), 20% test (reported, never optimized).
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, random_state=SEED, stratify=y
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, random_state=SEED, stratify=y_rest
    )
    model = MLPClassifier(
        hidden_layer_sizes=(args.hidden,),
        solver=args.optimizer,
        learning_rate_init=args.lr,
        momentum=args.momentum,
        alpha=args.alpha,
        batch_size=args.batch_size,
        random_state=SEED,
    )
    model, done = resume(model)
    classes = np.unique(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(done + 1, args.epochs + 1):
            model.partial_fit(x_train, y_train, classes=classes)  # one pass over the data
            print(f"epoch={epoch} val_acc={model.score(x_val, y_val):.4f}", flush=True)
    print(f"test_acc={model.score(x_test, y_test):.4f}", flush=True)
    folder = Path(os.environ.get("TUNEFORGE_TRIAL_DIR", "."))
    with open(folder / "model.pkl", "wb") as handle:
        pickle.dump(model, handle)
    (folder / "checkpoint.json").write_text(json.dumps({"epochs": max(done, args.epochs)}))


def resume(model: MLPClassifier) -> tuple[MLPClassifier, int]:
    """The model saved by the trial this one continues, and its epochs; else ``model``, 0."""
    folder = os.environ.get("TUNEFORGE_RESUME_DIR")
    if not folder or not (Path(folder) / "model.pkl").exists():
        return model, 0
    with open(Path(folder) / "model.pkl", "rb") as handle:
        saved = pickle.load(handle)
    done = json.loads((Path(folder) / "checkpoint.json").read_text())["epochs"]
    print(f"resumed from {folder} after {done} epochs", flush=True)
    return saved, done


if __name__ == "__main__":
    main()
