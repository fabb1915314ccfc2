"""Logistic regression over text embeddings, fitted by the product (numpy only, no ML framework).

- The model: P(good | x) = sigmoid(w·x + b). The objective is the mean log loss plus
  ``||w||² / (2·C·n)`` (``C`` as scikit-learn names it; the bias is not penalised), minimised with
  L-BFGS and a backtracking line search: smooth and strictly convex, so it converges to the one optimum.
- The regularisation ``C`` is chosen by stratified k-fold cross-validation (folds assigned by the
  texts' hashes, so the same examples always make the same folds): the ``C`` whose out-of-fold
  predictions have the best F1 for ``good`` (then the best log loss, then the strongest
  regularisation). Along the grid, from the strongest regularisation, each fold's fit starts from the
  previous ``C``'s weights, and the path stops once the out-of-fold log loss rises.
- The features are centred before fitting; the centring is folded back into the bias, so judging is
  one dot product with the raw embedding.
- The folds' fits run in lockstep (:func:`fit_many`): each step is one matrix product of the examples
  with every fold's weights, so the cross-validation reads the examples about as often as one fit does.

Imported only where a classifier is trained (the judges function's HTTP routes, and benchmarks):
judging a comment needs none of it (:mod:`.classifier`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..hashing import text_sha256

C_GRID = (0.25, 1.0, 4.0, 16.0, 64.0)
MAX_FOLDS = 5
# Past this many examples three folds hold plenty to validate on, and cost less than five.
FEWER_FOLDS_FROM, FEWER_FOLDS = 2_000, 3
MAX_ITERATIONS = 300
# The cross-validation's fits only rank the C values: they stop sooner than the final fit.
CV_MAX_ITERATIONS = 300
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


def fit_many(
    x: np.ndarray,
    y: np.ndarray,
    rows: np.ndarray,
    c: float,
    start: np.ndarray | None = None,
    *,
    max_iterations: int = MAX_ITERATIONS,
) -> np.ndarray:
    """The optimum ``[w..., b]`` of each column of ``rows`` (n×k, the examples each fit learns from),
    for features ``x`` (n×d, float32, centred) and labels ``y`` (1 = good), as a (d+1)×k array.

    The k fits (a cross-validation's folds) advance in lockstep, each with its own L-BFGS memory and
    step: every evaluation is one matrix product with all k weight vectors, so the examples are read
    once per step for all the folds, not once per fold."""
    n, d = x.shape
    k = rows.shape[1]
    weight = rows / rows.sum(axis=0)  # each fit's mean over its own examples
    penalty = 1.0 / (c * rows.sum(axis=0))  # (k,)
    theta = np.zeros((d + 1, k)) if start is None else start.copy()

    def value_and_gradient(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w, b = theta[:d], theta[d]
        margins = (x @ w.astype(np.float32)).astype(np.float64) + b
        loss = (_log_loss(margins, y[:, None]) * weight).sum(axis=0) + 0.5 * penalty * (w * w).sum(axis=0)
        residual = (_sigmoid(margins) - y[:, None]) * weight
        gradient = np.empty_like(theta)
        gradient[:d] = (x.T @ residual.astype(np.float32)).astype(np.float64) + penalty * w
        gradient[d] = residual.sum(axis=0)
        return loss, gradient

    loss, gradient = value_and_gradient(theta)
    steps: list[list[np.ndarray]] = [[] for _ in range(k)]
    changes: list[list[np.ndarray]] = [[] for _ in range(k)]
    running = np.ones(k, dtype=bool)
    for _ in range(max_iterations):
        running &= np.abs(gradient).max(axis=0) >= TOLERANCE
        if not running.any():
            break
        direction = np.zeros_like(theta)
        slope = np.zeros(k)
        for j in np.flatnonzero(running):
            direction[:, j] = _lbfgs_direction(gradient[:, j], steps[j], changes[j])
            slope[j] = float(gradient[:, j] @ direction[:, j])
            if slope[j] >= 0:  # not a descent direction: start this fit's memory afresh
                steps[j].clear()
                changes[j].clear()
                direction[:, j] = -gradient[:, j]
                slope[j] = -float(gradient[:, j] @ gradient[:, j])
        step = np.where(running, 1.0, 0.0)
        searching = running.copy()
        new_theta, new_loss, new_gradient = theta, loss, gradient
        for _ in range(40):  # backtracking (Armijo), every fit still searching halving its own step
            candidate = theta + step * direction
            trial_loss, trial_gradient = value_and_gradient(candidate)
            accepted = searching & (trial_loss <= loss + 1e-4 * step * slope)
            new_theta = np.where(accepted, candidate, new_theta)
            new_loss = np.where(accepted, trial_loss, new_loss)
            new_gradient = np.where(accepted, trial_gradient, new_gradient)
            searching &= ~accepted
            if not searching.any():
                break
            step = np.where(searching, step * 0.5, step)
        running &= ~searching  # a fit whose line search found nothing has converged as far as it can
        for j in np.flatnonzero(running):
            s_j, g_j = new_theta[:, j] - theta[:, j], new_gradient[:, j] - gradient[:, j]
            if float(s_j @ g_j) > 1e-12:
                steps[j].append(s_j)
                changes[j].append(g_j)
                if len(steps[j]) > HISTORY:
                    steps[j].pop(0)
                    changes[j].pop(0)
        improvement = loss - new_loss
        running &= improvement >= TOLERANCE * 1e-3 * np.maximum(1.0, np.abs(new_loss))
        theta, loss, gradient = new_theta, new_loss, new_gradient
    return theta


def _lbfgs_direction(gradient: np.ndarray, steps: list[np.ndarray], changes: list[np.ndarray]) -> np.ndarray:
    """The two-loop recursion: the descent direction from the last steps' curvature."""
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
    return direction


def folds_of(texts: list[str], labels: np.ndarray, folds: int) -> np.ndarray:
    """Stratified fold numbers: within each label, the examples ordered by their text's hash, dealt round."""
    fold = np.empty(len(texts), dtype=np.int64)
    for label in (0, 1):
        members = [i for i in range(len(texts)) if labels[i] == label]
        members.sort(key=lambda i: text_sha256(texts[i]))
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
    return {
        "f1_good": f1,
        "precision_good": precision,
        "recall_good": recall,
        "accuracy": float((predicted == y).mean()),
    }


def train(
    vectors: Sequence[Sequence[float]] | np.ndarray,
    labels: list[str],
    texts: list[str],
    c_grid: tuple[float, ...] = C_GRID,
) -> Fit:
    """Fit the classifier on the embedded examples; ``labels`` are ``good``/``bad`` (both present,
    at least two of each)."""
    x = np.asarray(vectors, dtype=np.float64)
    y = np.array([1.0 if label == "good" else 0.0 for label in labels])
    smallest = int(min(y.sum(), len(y) - y.sum()))
    if smallest < 2:
        raise ValueError("at least two examples of each label are needed")
    folds = min(MAX_FOLDS if len(y) <= FEWER_FOLDS_FROM else FEWER_FOLDS, smallest)
    fold = folds_of(texts, y, folds)
    # Centring changes nothing of the optimum (the bias is free) but conditions the problem; every
    # fit shares the mean of all the examples, so the folds share one matrix.
    mean = x.mean(axis=0)
    centred = (x - mean).astype(np.float32)
    rows = np.stack([fold != k for k in range(folds)], axis=1)
    out_of_fold, fitted = {}, {}
    theta = None
    for c in sorted(c_grid):  # along the path, each C's fits start from the previous C's
        theta = fit_many(centred, y, rows, c, theta, max_iterations=CV_MAX_ITERATIONS)
        fitted[c] = theta
        margins = (centred @ theta[:-1].astype(np.float32)).astype(np.float64) + theta[-1]
        out_of_fold[c] = margins[np.arange(len(y)), fold]
        losses = {tried: float(_log_loss(margins_, y).mean()) for tried, margins_ in out_of_fold.items()}
        if losses[c] > min(losses.values()):  # past the best regularisation: weaker only fits noise more
            break

    def rank(c: float) -> tuple[float, float, float]:
        figures = scores((out_of_fold[c] > 0).astype(np.float64), y)
        return (figures["f1_good"], -float(_log_loss(out_of_fold[c], y).mean()), -c)

    best = max(out_of_fold, key=rank)
    cross_validated = scores((out_of_fold[best] > 0).astype(np.float64), y)
    # The final fit, on every example, starts from the folds' average at that C: most of the way there.
    start = fitted[best].mean(axis=1, keepdims=True)
    theta = fit_many(centred, y, np.ones((len(y), 1), dtype=bool), best, start)[:, 0]
    weights = theta[:-1]
    bias = float(theta[-1] - weights @ mean)  # w·(x - mean) + b = w·x + (b - w·mean)
    return Fit(weights=[float(v) for v in weights], bias=bias, c=best, folds=folds, **cross_validated)
