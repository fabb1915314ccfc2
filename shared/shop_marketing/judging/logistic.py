"""Logistic regression over text embeddings, fitted by the product (numpy only, no ML framework).

- The model: P(good | x) = sigmoid(w·x + b). The objective is the mean log loss plus
  ``||w||² / (2·C·n)`` (``C`` as scikit-learn names it; the bias is not penalised), minimised with
  L-BFGS and a backtracking line search: smooth and strictly convex, so it converges to the one optimum.
- The regularisation ``C`` is chosen by stratified k-fold cross-validation (folds assigned by the
  texts' hashes, so the same examples always make the same folds): the ``C`` whose out-of-fold
  predictions have the best F1 for ``good`` (then the best log loss, then the strongest
  regularisation). Along the grid each fold's fit starts from the previous ``C``'s weights.
- The features are centred before fitting; the centring is folded back into the bias, so judging is
  one dot product with the raw embedding.

Imported only where a classifier is trained (the judges function's HTTP routes, and benchmarks):
judging a comment needs none of it (:mod:`.classifier`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
MAX_FOLDS = 5
MAX_ITERATIONS = 300
HISTORY = 10
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Fit:
    weights: list[float]
    bias: float
    c: float
    folds: int
    f1_good: float
    precision_good: float
    recall_good: float
    accuracy: float


def _log_loss(margins: np.ndarray, y: np.ndarray) -> np.ndarray:
    # log(1 + exp(-m)) for y = 1, log(1 + exp(m)) for y = 0, without overflow
    signed = np.where(y > 0, -margins, margins)
    return np.logaddexp(0.0, signed)


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))


def fit_weights(x: np.ndarray, y: np.ndarray, c: float, start: np.ndarray | None = None) -> np.ndarray:
    """The optimum ``[w..., b]`` for features ``x`` (n×d, centred), labels ``y`` (1 = good), ``C``."""
    n, d = x.shape
    penalty = 1.0 / (c * n)
    theta = np.zeros(d + 1) if start is None else start.copy()
    # The products with the examples in single precision (half the memory traffic of the two matrix-
    # vector products that are nearly all the work); the sums and the optimiser's state in double.
    x = np.asarray(x, dtype=np.float32)

    def value_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        margins = (x @ w.astype(np.float32)).astype(np.float64) + b
        loss = float(_log_loss(margins, y).mean()) + 0.5 * penalty * float(w @ w)
        residual = (_sigmoid(margins) - y) / n
        gradient = np.empty(d + 1)
        gradient[:d] = (x.T @ residual.astype(np.float32)).astype(np.float64) + penalty * w
        gradient[d] = residual.sum()
        return loss, gradient

    loss, gradient = value_and_gradient(theta)
    steps: list[np.ndarray] = []
    changes: list[np.ndarray] = []
    for _ in range(MAX_ITERATIONS):
        if float(np.abs(gradient).max()) < TOLERANCE:
            break
        # L-BFGS two-loop recursion: the direction from the last HISTORY steps' curvature.
        direction = -gradient
        alphas = []
        for s, g in zip(reversed(steps), reversed(changes), strict=True):
            alpha = float(s @ direction) / float(g @ s)
            alphas.append(alpha)
            direction = direction - alpha * g
        if steps:
            direction = direction * (float(steps[-1] @ changes[-1]) / float(changes[-1] @ changes[-1]))
        for (s, g), alpha in zip(zip(steps, changes, strict=True), reversed(alphas), strict=True):
            beta = float(g @ direction) / float(g @ s)
            direction = direction + (alpha - beta) * s
        slope = float(gradient @ direction)
        if slope >= 0:  # not a descent direction: start the memory afresh
            steps.clear()
            changes.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0
        for _ in range(40):
            candidate = theta + step * direction
            new_loss, new_gradient = value_and_gradient(candidate)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s, g = candidate - theta, new_gradient - gradient
        if float(s @ g) > 1e-12:
            steps.append(s)
            changes.append(g)
            if len(steps) > HISTORY:
                steps.pop(0)
                changes.pop(0)
        improvement = loss - new_loss
        theta, loss, gradient = candidate, new_loss, new_gradient
        if improvement < TOLERANCE * 1e-3 * max(1.0, abs(loss)):
            break
    return theta


def folds_of(texts: list[str], labels: np.ndarray, folds: int) -> np.ndarray:
    """Stratified fold numbers: within each label, the examples ordered by their text's hash, dealt round."""
    fold = np.empty(len(texts), dtype=np.int64)
    for label in (0, 1):
        members = [i for i in range(len(texts)) if labels[i] == label]
        members.sort(key=lambda i: hashlib.sha256(texts[i].encode("utf-8")).hexdigest())
        for position, index in enumerate(members):
            fold[index] = position % folds
    return fold


def scores(predicted: np.ndarray, y: np.ndarray) -> dict[str, float]:
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1_good": f1, "precision_good": precision, "recall_good": recall, "accuracy": float((predicted == y).mean())}


def train(vectors: list[list[float]] | np.ndarray, labels: list[str], texts: list[str], c_grid: tuple[float, ...] = C_GRID) -> Fit:
    """Fit the classifier on the embedded examples; ``labels`` are ``good``/``bad`` (both present,
    at least two of each)."""
    x = np.asarray(vectors, dtype=np.float64)
    y = np.array([1.0 if label == "good" else 0.0 for label in labels])
    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < 2:
        raise ValueError("at least two examples of each label are needed")
    folds = min(MAX_FOLDS, smallest)
    fold = folds_of(texts, y, folds)
    out_of_fold = {c: np.zeros(len(y)) for c in c_grid}
    for k in range(folds):
        train_rows, test_rows = fold != k, fold == k
        mean = x[train_rows].mean(axis=0)
        part = x[train_rows] - mean
        theta = None
        for c in sorted(c_grid):
            theta = fit_weights(part, y[train_rows], c, theta)
            out_of_fold[c][test_rows] = (x[test_rows] - mean) @ theta[:-1] + theta[-1]

    def rank(c: float) -> tuple[float, float, float]:
        figures = scores((out_of_fold[c] > 0).astype(np.float64), y)
        return (figures["f1_good"], -float(_log_loss(out_of_fold[c], y).mean()), -c)

    best = max(c_grid, key=rank)
    cross_validated = scores((out_of_fold[best] > 0).astype(np.float64), y)
    mean = x.mean(axis=0)
    theta = fit_weights(x - mean, y, best)
    weights = theta[:-1]
    bias = float(theta[-1] - weights @ mean)  # w·(x - mean) + b = w·x + (b - w·mean)
    return Fit(weights=[float(v) for v in weights], bias=bias, c=best, folds=folds, **cross_validated)
