"""The statistics behind bench judge, against independent references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from vla_bench_rewards import scoring
from vla_bench_rewards.judges.base import Question, parse_answer
from vla_bench_rewards.judges.keyword import keyword_reward


def test_auroc_is_the_mann_whitney_statistic_with_ties_counted_half() -> None:
    rng = np.random.default_rng(3)
    labels = rng.random(60) < 0.4
    scores = np.round(rng.normal(labels * 0.8, 1.0), 1)  # rounded: many ties
    u = stats.mannwhitneyu(scores[labels], scores[~labels]).statistic
    assert scoring.auroc(labels, scores) == pytest.approx(u / (labels.sum() * (~labels).sum()))
    assert math.isnan(scoring.auroc([True, True], [0.1, 0.2]))  # one class: undefined


def test_delong_variance_matches_a_hand_computed_case() -> None:
    # positives 0.9, 0.8, 0.4; negatives 0.7, 0.3. psi rows: (1, 1), (1, 1), (0, 1):
    # AUC = 5/6; V10 = (1, 1, 1/2), var = 1/12; V01 = (2/3, 1), var = 1/18;
    # Var = (1/12)/3 + (1/18)/2 = 1/18
    labels = [True, True, True, False, False]
    scores = [0.9, 0.8, 0.4, 0.7, 0.3]
    assert scoring.auroc(labels, scores) == pytest.approx(5 / 6)
    assert scoring.delong_variance(labels, scores) == pytest.approx(1 / 18)
    _, low, high = scoring.auroc_interval(labels, scores)
    half = 1.959964 * math.sqrt(1 / 18)
    assert (low, high) == pytest.approx((5 / 6 - half, 1.0))  # clipped at 1


def test_delong_interval_covers_the_true_auroc_about_95_percent_of_the_time() -> None:
    # binormal scores, shift d: the true AUROC is Phi(d / sqrt(2))
    rng = np.random.default_rng(11)
    d, n, reps = 1.0, 40, 400
    truth = stats.norm.cdf(d / math.sqrt(2))
    labels = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    covered = 0
    for _ in range(reps):
        scores = np.r_[rng.normal(d, 1, n), rng.normal(0, 1, n)]
        _, low, high = scoring.auroc_interval(labels, scores)
        covered += low <= truth <= high
    assert 0.91 <= covered / reps <= 0.98


def test_binary_metrics_of_a_perfect_and_a_constant_detector() -> None:
    labels = np.array([True] * 6 + [False] * 14)
    perfect = scoring.binary_metrics(labels, labels.astype(float), 0.5)
    assert (perfect["tp"], perfect["fp"], perfect["fn"], perfect["tn"]) == (6, 0, 0, 14)
    assert perfect["precision"] == perfect["recall"] == perfect["f1"] == perfect["auroc"] == 1.0
    assert perfect["precision_ci"][0] == pytest.approx(0.6097, abs=1e-3)  # Wilson 6/6
    constant = scoring.binary_metrics(labels, np.full(20, 0.5), 0.5)  # says "success" always
    assert constant["precision"] == pytest.approx(0.3) and constant["recall"] == 1.0
    assert constant["auroc"] == 0.5 and constant["f1"] == pytest.approx(2 * 6 / (12 + 14))
    low, high = constant["precision_ci"]
    assert low < 0.3 < high
    never = scoring.binary_metrics(labels, np.zeros(20), 0.5)
    assert math.isnan(never["precision"]) and never["recall"] == 0.0 and never["f1"] == 0.0


def test_spearman_interval_and_undefined_cases() -> None:
    x = np.arange(30.0)
    y = x + np.random.default_rng(0).normal(0, 8, 30)
    out = scoring.spearman(x, y)
    assert out["rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    z, se = math.atanh(out["rho"]), math.sqrt(1.06 / 27)
    assert out["ci"] == pytest.approx([math.tanh(z - 1.959964 * se), math.tanh(z + 1.959964 * se)])
    flat = scoring.spearman(x, np.full(30, 45.0))
    assert math.isnan(flat["rho"]) and "one answer" in flat["note"]


def test_numeric_metrics_count_distinct_answers() -> None:
    truth = [-10.0, -2.0, 0.5, 3.0, 12.0]
    out = scoring.numeric_metrics(truth, [45.0, 30.0, 45.0, 45.0, 30.0])
    assert out["distinct"] == 2 and out["commonest"][0] == [45.0, 3]
    assert out["mae"] == pytest.approx(np.mean([55, 32, 44.5, 42, 18]))


ANGLE = Question("tilt?", "number", "pole_angle", -90, 90, "degrees", ("left", "right"))
PROB = Question("done?", "probability", "success", 0, 1)


@pytest.mark.parametrize(
    ("text", "question", "value"),
    [
        ("The pole is leaning left, about 30 degrees.", ANGLE, -30.0),
        ("Leaning right by 45 degrees", ANGLE, 45.0),
        ("-12", ANGLE, -12.0),
        ("It leans 150 degrees to the right", ANGLE, 90.0),  # clipped to the range
        ("70%", PROB, 0.7),
        ("I'd say 85", PROB, 0.85),  # a bare number over 1 where a probability was asked
        ("0.25", PROB, 0.25),
        ("Yes, it landed.", PROB, 1.0),
        ("No.", PROB, 0.0),
    ],
)
def test_numbers_are_read_from_free_text(text: str, question: Question, value: float) -> None:
    assert parse_answer(text, question) == (pytest.approx(value), "")


def test_an_answer_without_a_number_is_an_error_not_a_guess() -> None:
    value, error = parse_answer("the pole is on a cart", ANGLE)
    assert value is None and "no number" in error


def test_keyword_rules_of_the_report() -> None:
    score, fired = keyword_reward("The shuttle landed inside the flags and looks stable.")
    assert score == pytest.approx(2.75 + 0.45 + 0.75) and fired == ["inside", "landed", "stable"]
    assert keyword_reward("far away, outside and away again")[0] == pytest.approx(-1.75)
    assert keyword_reward("an online moonlit scene")[0] == 0.0  # whole words only
    assert keyword_reward("In the CENTER, on the pad")[0] == pytest.approx(1.25 + 0.45)
