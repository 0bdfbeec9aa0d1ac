"""The benchmark problems: synthetic functions with a known optimum and real tuning problems.

Every problem is a minimization over a tuneforge ``SearchSpace``. The real problems are
the cross-validated loss of a scikit-learn model on a data set that ships with
scikit-learn (no download), with fixed folds and fixed model seeds, so each objective is
deterministic; their optimum is unknown and the suite uses the best value any method found
(see ``search_quality.py``). Each evaluation takes at most a few tenths of a second on one
core, so the whole suite runs in tens of minutes on two.

``PROBLEMS`` maps a name to a function that builds the problem (data sets are loaded on
first use, once per process).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuneforge.space import Categorical, Float, Int, SearchSpace


@dataclass(frozen=True)
class Problem:
    """A minimization problem: its space, its objective and, if known, its optimum."""

    name: str
    space: SearchSpace
    objective: Callable[[Mapping[str, Any]], float]
    optimum: float | None
    kind: str  # "synthetic" | "sklearn"
    description: str


# -- synthetic functions -------------------------------------------------------------------


def branin() -> Problem:
    def f(p: Mapping[str, Any]) -> float:
        x1, x2 = p["x1"], p["x2"]
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10

    space = SearchSpace({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})
    return Problem("branin", space, f, 0.397887357729738, "synthetic", "Branin, 2 floats")


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6() -> Problem:
    def f(p: Mapping[str, Any]) -> float:
        x = np.array([p[f"x{i}"] for i in range(6)])
        inner = np.sum(_H6_A * (x - _H6_P) ** 2, axis=1)
        return float(-np.sum(_H6_ALPHA * np.exp(-inner)))

    space = SearchSpace({f"x{i}": Float(0.0, 1.0) for i in range(6)})
    return Problem("hartmann6", space, f, -3.322368011391339, "synthetic", "Hartmann-6, 6 floats")


def rosenbrock4() -> Problem:
    def f(p: Mapping[str, Any]) -> float:
        x = [p[f"x{i}"] for i in range(4)]
        return float(sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3)))

    space = SearchSpace({f"x{i}": Float(-2.048, 2.048) for i in range(4)})
    return Problem("rosenbrock4", space, f, 0.0, "synthetic", "Rosenbrock, 4 floats")


def levy4() -> Problem:
    def f(p: Mapping[str, Any]) -> float:
        w = [1 + (p[f"x{i}"] - 1) / 4 for i in range(4)]
        out = math.sin(math.pi * w[0]) ** 2
        for wi in w[:-1]:
            out += (wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2)
        return out + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)

    space = SearchSpace({f"x{i}": Float(-10.0, 10.0) for i in range(4)})
    return Problem("levy4", space, f, 0.0, "synthetic", "Levy, 4 floats, many local minima")


_BEST_LR = {"sgd": 1e-1, "adam": 1e-3, "rmsprop": 3e-4, "adagrad": 1e-2}
_OFFSET = {"sgd": 0.3, "adam": 0.0, "rmsprop": 0.1, "adagrad": 0.5}


def mixed() -> Problem:
    """A training-like response: the best learning rate depends on the optimizer."""

    def f(p: Mapping[str, Any]) -> float:
        optimizer = p["optimizer"]
        lr_term = (math.log10(p["lr"]) - math.log10(_BEST_LR[optimizer])) ** 2
        return (
            _OFFSET[optimizer]
            + 0.5 * lr_term
            + 0.05 * (p["depth"] - 4) ** 2
            + 0.1 * (math.log2(p["width"]) - 7) ** 2
            + (p["dropout"] - 0.2) ** 2
        )

    space = SearchSpace(
        {
            "lr": Float(1e-5, 1.0, log=True),
            "depth": Int(1, 10),
            "width": Int(8, 1024, log=True),
            "optimizer": Categorical(["sgd", "adam", "rmsprop", "adagrad"]),
            "dropout": Float(0.0, 0.8),
        }
    )
    return Problem(
        "mixed", space, f, 0.0, "synthetic", "log float, int, log int, categorical, float"
    )


# -- scikit-learn problems -----------------------------------------------------------------


@functools.cache
def _data(name: str) -> tuple[Any, Any]:
    from sklearn import datasets
    from sklearn.preprocessing import StandardScaler

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "diabetes": datasets.load_diabetes,
    }[name]
    x, y = loader(return_X_y=True)
    if name == "digits":  # the first 1000 images: a third of the cost, the same difficulty
        x, y = x[:1000], y[:1000]
    return StandardScaler().fit_transform(x), y


def _cv_loss(model: Any, data: str, scoring: str, *, classify: bool) -> float:
    """Mean 3-fold cross-validated loss (``-score``), fixed folds, one core."""
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score

    x, y = _data(data)
    folds = (StratifiedKFold if classify else KFold)(3, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = cross_val_score(model, x, y, cv=folds, scoring=scoring, n_jobs=1)
    value = -float(np.mean(scores))
    if not math.isfinite(value):
        raise ValueError(f"the model's score is {value}")
    return value


def svm_digits() -> Problem:
    from sklearn.svm import SVC

    def f(p: Mapping[str, Any]) -> float:
        model = SVC(C=p["C"], gamma=p["gamma"])
        return 1.0 + _cv_loss(model, "digits", "accuracy", classify=True)  # error rate

    space = SearchSpace({"C": Float(1e-2, 1e3, log=True), "gamma": Float(1e-5, 1.0, log=True)})
    return Problem("svm_digits", space, f, None, "sklearn", "SVC on digits, error, 2 log floats")


def kernel_ridge_diabetes() -> Problem:
    from sklearn.kernel_ridge import KernelRidge

    def f(p: Mapping[str, Any]) -> float:
        model = KernelRidge(alpha=p["alpha"], kernel=p["kernel"], gamma=p["gamma"])
        return _cv_loss(model, "diabetes", "neg_mean_squared_error", classify=False) / 1000

    space = SearchSpace(
        {
            "alpha": Float(1e-4, 10.0, log=True),
            "gamma": Float(1e-4, 1.0, log=True),
            "kernel": Categorical(["rbf", "laplacian", "sigmoid"]),
        }
    )
    return Problem(
        "krr_diabetes", space, f, None, "sklearn", "KernelRidge on diabetes, MSE/1000, 3 params"
    )


def forest_wine() -> Problem:
    from sklearn.ensemble import RandomForestClassifier

    def f(p: Mapping[str, Any]) -> float:
        model = RandomForestClassifier(
            n_estimators=25,
            max_depth=p["max_depth"],
            min_samples_split=p["min_samples_split"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            criterion=p["criterion"],
            random_state=0,
            n_jobs=1,
        )
        return _cv_loss(model, "wine", "neg_log_loss", classify=True)

    space = SearchSpace(
        {
            "max_depth": Int(1, 20),
            "min_samples_split": Int(2, 20),
            "min_samples_leaf": Int(1, 10),
            "max_features": Float(0.05, 1.0),
            "criterion": Categorical(["gini", "entropy"]),
        }
    )
    return Problem(
        "rf_wine", space, f, None, "sklearn", "RandomForest on wine, log loss, 3 ints, float, cat"
    )


def boosting_diabetes() -> Problem:
    from sklearn.ensemble import GradientBoostingRegressor

    def f(p: Mapping[str, Any]) -> float:
        model = GradientBoostingRegressor(
            learning_rate=p["learning_rate"],
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            subsample=p["subsample"],
            min_samples_leaf=p["min_samples_leaf"],
            random_state=0,
        )
        return _cv_loss(model, "diabetes", "neg_mean_squared_error", classify=False) / 1000

    space = SearchSpace(
        {
            "learning_rate": Float(1e-3, 1.0, log=True),
            "n_estimators": Int(10, 100, log=True),
            "max_depth": Int(1, 5),
            "subsample": Float(0.3, 1.0),
            "min_samples_leaf": Int(1, 50, log=True),
        }
    )
    return Problem(
        "gbm_diabetes",
        space,
        f,
        None,
        "sklearn",
        "GradientBoosting on diabetes, MSE/1000, 5 params",
    )


def sgd_digits() -> Problem:
    """A conditional space: l1_ratio only with elasticnet, eta0 only without 'optimal'."""
    from sklearn.linear_model import SGDClassifier

    def f(p: Mapping[str, Any]) -> float:
        model = SGDClassifier(
            loss=p["loss"],
            penalty=p["penalty"],
            alpha=p["alpha"],
            l1_ratio=p.get("l1_ratio", 0.15),
            learning_rate=p["learning_rate"],
            eta0=p.get("eta0", 0.01),
            max_iter=25,
            tol=None,
            random_state=0,
        )
        return 1.0 + _cv_loss(model, "digits", "accuracy", classify=True)

    space = SearchSpace(
        {
            "loss": Categorical(["hinge", "log_loss", "modified_huber"]),
            "penalty": Categorical(["l2", "l1", "elasticnet"]),
            "alpha": Float(1e-6, 1e-1, log=True),
            "l1_ratio": Float(0.0, 1.0, when={"penalty": "elasticnet"}),
            "learning_rate": Categorical(["optimal", "invscaling", "constant"]),
            "eta0": Float(1e-4, 1.0, log=True, when={"learning_rate": ["invscaling", "constant"]}),
        }
    )
    return Problem(
        "sgd_digits", space, f, None, "sklearn", "SGDClassifier on digits, error, conditional"
    )


def mlp_cancer() -> Problem:
    from sklearn.neural_network import MLPClassifier

    def f(p: Mapping[str, Any]) -> float:
        model = MLPClassifier(
            hidden_layer_sizes=(p["units"],),
            activation=p["activation"],
            alpha=p["alpha"],
            learning_rate_init=p["lr"],
            batch_size=p["batch_size"],
            max_iter=30,
            random_state=0,
        )
        return _cv_loss(model, "breast_cancer", "neg_log_loss", classify=True)

    space = SearchSpace(
        {
            "units": Int(2, 128, log=True),
            "activation": Categorical(["relu", "tanh", "logistic"]),
            "alpha": Float(1e-6, 1.0, log=True),
            "lr": Float(1e-4, 0.3, log=True),
            "batch_size": Int(16, 256, log=True),
        }
    )
    return Problem(
        "mlp_cancer", space, f, None, "sklearn", "MLP on breast cancer, log loss, 5 params"
    )


PROBLEMS: dict[str, Callable[[], Problem]] = {
    "branin": branin,
    "hartmann6": hartmann6,
    "rosenbrock4": rosenbrock4,
    "levy4": levy4,
    "mixed": mixed,
    "svm_digits": svm_digits,
    "krr_diabetes": kernel_ridge_diabetes,
    "rf_wine": forest_wine,
    "gbm_diabetes": boosting_diabetes,
    "sgd_digits": sgd_digits,
    "mlp_cancer": mlp_cancer,
}
