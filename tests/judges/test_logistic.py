"""The classifier's fitting (numpy only) and the judging arithmetic (no numpy): the optimum is really
reached, folds are stratified and reproducible, probabilities and billed tokens add up."""

from __future__ import annotations

import array
import math
import random

import numpy as np
import pytest

from infra.openai_standin import embedding_vector
from shop_marketing.judging import logistic
from shop_marketing.judging.classifier import probability_good, share_tokens
from shop_marketing.judging.recipes import JudgeSpec
from tests.judges.conftest import BAD, GOOD


def noisy_problem(count: int = 400, dimensions: int = 64, seed: int = 3):
    chance = np.random.default_rng(seed)
    direction = chance.normal(size=dimensions)
    x = chance.normal(size=(count, dimensions))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = (x @ direction + chance.normal(scale=0.3, size=count) > 0).astype(float)
    return x, y


def gradient_of_objective(x, y, weights, bias, c):
    """The gradient of mean log loss + ||w||² / (2·C·n) at (weights, bias), computed independently."""
    margins = x @ weights + bias
    residual = (1 / (1 + np.exp(-margins)) - y) / len(y)
    return np.concatenate([x.T @ residual + weights / (c * len(y)), [residual.sum()]])


@pytest.mark.parametrize("c", [0.25, 4.0, 64.0])
def test_the_fit_reaches_the_optimum_of_the_regularised_log_loss(c):
    x, y = noisy_problem()
    mean = x.mean(axis=0)

    theta = logistic.fit_many((x - mean).astype(np.float32), y, np.ones((len(y), 1), dtype=bool), c)[:, 0]

    weights, bias = theta[:-1], theta[-1] - theta[:-1] @ mean
    assert np.abs(gradient_of_objective(x, y, weights, bias, c)).max() < 1e-4


def test_folds_fitted_in_lockstep_equal_each_fold_fitted_alone():
    x, y = noisy_problem(count=300)
    x32 = (x - x.mean(axis=0)).astype(np.float32)
    fold = logistic.folds_of([f"text {n}" for n in range(len(y))], y, 3)
    rows = np.stack([fold != k for k in range(3)], axis=1)

    together = logistic.fit_many(x32, y, rows, 4.0)
    alone = np.stack([logistic.fit_many(x32, y, rows[:, [k]], 4.0)[:, 0] for k in range(3)], axis=1)

    assert np.abs(together - alone).max() < 1e-3


def test_folds_are_stratified_and_the_same_for_the_same_texts_in_any_order():
    texts = [f"comment {n}" for n in range(50)]
    y = np.array([1.0 if n % 3 else 0.0 for n in range(50)])
    fold = logistic.folds_of(texts, y, 5)
    order = list(range(50))
    random.Random(1).shuffle(order)
    shuffled = logistic.folds_of([texts[i] for i in order], y[order], 5)

    for k in range(5):
        members = y[fold == k]
        assert abs(members.sum() - y.sum() / 5) <= 1 and abs((1 - members).sum() - (1 - y).sum() / 5) <= 1
    assert [shuffled[position] for position in np.argsort(order)] == list(fold)


def test_cross_validation_prefers_more_regularisation_when_the_labels_are_noise():
    x, y = noisy_problem(count=300, dimensions=128)
    noise = np.random.default_rng(9).permutation(y)
    labels = lambda values: ["good" if v else "bad" for v in values]  # noqa: E731
    texts = [f"t{n}" for n in range(len(y))]

    learnt = logistic.train(x, labels(y), texts)
    guessed = logistic.train(x, labels(noise), texts)

    assert (
        learnt.f1_good > 0.8
        and guessed.accuracy < learnt.accuracy - 0.2
        and guessed.precision_good < learnt.precision_good - 0.2
    )
    assert guessed.c <= learnt.c
    assert learnt.folds == 5 and len(learnt.weights) == 128


def test_too_few_examples_of_a_label_cannot_be_cross_validated():
    with pytest.raises(ValueError, match="two examples of each label"):
        logistic.train([[1.0, 0.0]] * 3, ["good", "good", "bad"], ["a", "b", "c"])


def test_a_probability_is_the_sigmoid_of_the_dot_product_and_its_label_flips_at_one_half():
    spec = JudgeSpec(id=1, name="c", style="classifier", model="m", weights=(2.0, -1.0), bias=0.5)

    assert probability_good(spec, array.array("f", [1.0, 1.0])) == pytest.approx(1 / (1 + math.exp(-1.5)))
    assert probability_good(spec, array.array("f", [0.0, 0.5])) == pytest.approx(0.5)
    assert probability_good(spec, array.array("f", [-1.0, 0.0])) < 0.5


def test_a_calls_billed_tokens_are_shared_out_exactly_in_proportion_to_each_texts_tokens():
    texts = [GOOD[0], BAD[1], BAD[2], GOOD[3]]

    shares = share_tokens(101, texts)

    assert sum(shares) == 101 and shares[0] > shares[1] and all(share > 0 for share in shares)
    assert share_tokens(7, [BAD[0]]) == [7]


def test_the_standins_vectors_are_deterministic_unit_vectors_that_carry_similarity():
    first = embedding_vector(GOOD[0], "text-embedding-3-small", 1536)
    again = embedding_vector(GOOD[0], "text-embedding-3-small", 1536)
    other_model = embedding_vector(GOOD[0], "text-embedding-3-large", 1536)
    similar = embedding_vector(GOOD[0].replace("니트", "가디건"), "text-embedding-3-small", 1536)
    unrelated = embedding_vector(BAD[2], "text-embedding-3-small", 1536)

    assert first == again and math.isclose(math.fsum(v * v for v in first), 1.0)
    cosine = lambda a, b: math.fsum(p * q for p, q in zip(a, b, strict=True))  # noqa: E731
    assert cosine(first, similar) > 0.8 > 0.3 > cosine(first, unrelated)
    assert cosine(first, other_model) < 0.3
