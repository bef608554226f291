"""The real-network run: a short digits MLP training reaches 100% training accuracy, its metrics over training
come from ufm.metrics.Timeline, and the UFM comparison is consistent with the closed form it uses."""

from __future__ import annotations

import numpy as np
import pytest

import ufm
from ufm.experiments import real

pytestmark = pytest.mark.skipif(not real.available(), reason="the real extra (scikit-learn) is not installed")


@pytest.fixture(scope="module")
def run():
    return real.train(real.DigitsConfig(steps=600, every=100))


def test_short_training_reaches_the_terminal_phase(run):
    X, y = real.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32 and np.bincount(y).min() == 174
    t = run.table
    assert list(run.step) == [100, 200, 300, 400, 500, 600]
    assert t["train_accuracy"][-1] == 1.0 and np.all(np.diff(t["loss"]) < 0)
    assert t["nc1"][-1] < t["nc1"][0]  # variability shrinks as training goes on
    rec = ufm.metrics.collapse(run.features, run.labels, run.W, run.b)
    assert rec.nc1 == pytest.approx(t["nc1"][-1], rel=1e-12) and rec.accuracy == 1.0


def test_ufm_comparison_uses_the_matching_problem(run):
    c = real.compare_with_ufm(run)
    p = c["problem"]
    assert (p["K"], p["n"], p["d"], p["loss"], p["lam_w"]) == (10, 180, 64, "ce", run.config.weight_decay)
    assert c["prediction_case"] == "ce:d>=K:etf"
    # λ_H is read off the measured norm ratio, so the UFM's ratio reproduces it (Guo et al. 2025, Thm 4.1).
    ufm_ratio = c["w_norm"]["ufm"] / c["h_mean_norm"]["ufm"]
    net_ratio = c["w_norm"]["measured"] / c["h_mean_norm"]["measured"]
    assert ufm_ratio == pytest.approx(net_ratio, rel=1e-9)
    assert c["logit_scale"]["measured"] > 0 and c["logit_scale"]["ufm"] > 0


def test_bad_config_is_refused_by_name():
    with pytest.raises(ufm.ParameterError, match="steps"):
        real.DigitsConfig(steps=150, every=100)
    with pytest.raises(ufm.ParameterError, match="lr"):
        real.DigitsConfig(lr=0.0)
