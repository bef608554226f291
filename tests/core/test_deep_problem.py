"""The deep UFM in the core: `Problem(depth=L, activation, widths, lam_w per layer)`, its objective, solves,
reduction and command line; depth 1 is the one-layer problem unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import ufm
from ufm.cli import main


def test_depth_one_is_the_one_layer_problem():
    p = ufm.Problem(K=4, n=3, d=5)
    assert ufm.Problem(K=4, n=3, d=5, depth=1, activation="relu", widths=(), lam_w=(p.lam_w,)) == p
    assert set(p.to_dict()) == {"K", "n", "d", "loss", "lam_w", "lam_h", "lam_b", "delta", "gamma", "alpha", "M",
                                "bias", "fixed_w", "etf_norm", "dtype"}  # the dict (and scan identities) of 0.3
    assert ufm.Layout.of(p).w_shapes == ((4, 5),) and ufm.Layout.of(p).size == 4 * 5 + 5 * 12 + 4


@pytest.mark.parametrize("kw, field", [
    (dict(depth=0), "depth"), (dict(depth=65), "depth"), (dict(depth=2.0), "depth"),
    (dict(depth=2, activation="tanh"), "activation"), (dict(depth=3, widths=(4,)), "widths"),
    (dict(depth=2, widths=(0,)), "widths"), (dict(depth=2, lam_w=(1e-3, 2e-3, 3e-3)), "lam_w"),
    (dict(depth=2, lam_w=(1e-3, -1.0)), "lam_w"), (dict(depth=2, lam_w=(1e-3, 1e30)), "lam_w"),
    (dict(depth=2, fixed_w="etf", d=5), "fixed_w"),
])
def test_bad_deep_fields_name_the_field(kw, field):
    with pytest.raises(ufm.ParameterError) as e:
        ufm.Problem(K=4, n=2, **kw)
    assert e.value.param == field


def test_deep_fields_round_trip_and_shapes():
    p = ufm.Problem(K=3, n=2, d=4, depth=3, activation="relu", widths=(6, 5), lam_w=(1e-3, 2e-3, 3e-3))
    assert ufm.Problem(**p.to_dict()) == p and p.dims == (4, 6, 5, 3) and p.lam_ws == (1e-3, 2e-3, 3e-3)
    assert ufm.Problem(K=3, n=2, d=4, depth=3, lam_w=(1e-3,) * 3).lam_w == 1e-3  # equal λ's: one spelling
    lay = ufm.Layout.of(p)
    assert lay.w_shapes == ((6, 4), (5, 6), (3, 5)) and lay.size == 24 + 30 + 15 + 4 * 6 + 3
    x = ufm.initial_point(p, seed=1)
    W, H, b = lay.unpack(x)
    assert [w.shape for w in W] == [(6, 4), (5, 6), (3, 5)] and np.array_equal(lay.pack((W, H, b)), x)
    with pytest.raises(ufm.ParameterError, match="W_2"):
        ufm.initial_point(p, init=((W[0], W[1].T, W[2]), H, b))
    with pytest.raises(ufm.ParameterError):
        p.lam_z


def test_the_objective_is_the_formula():
    """f = (1/N) Σ L(W_3 σ(W_2 σ(W_1 h)) + b) + Σ_l λ_l/2 ‖W_l‖² + λ_H/2 ‖H‖² + λ_b/2 ‖b‖², in numpy."""
    p = ufm.Problem(K=3, n=2, d=4, loss="mse", depth=3, activation="relu", widths=(6, 5),
                    lam_w=(1e-3, 2e-3, 3e-3), lam_h=4e-3, lam_b=5e-3)
    rng = np.random.default_rng(0)
    W = tuple(rng.standard_normal(s) for s in ufm.Layout.of(p).w_shapes)
    H, b = rng.standard_normal((4, 6)), rng.standard_normal(3)
    A = H
    for w in W[:-1]:
        A = np.maximum(w @ A, 0.0)
    Z = W[-1] @ A + b[:, None]
    data = 0.5 * np.sum((Z - p.Y) ** 2) / p.N
    reg = sum(l / 2 * np.sum(w * w) for l, w in zip(p.lam_ws, W)) + 4e-3 / 2 * np.sum(H * H) + 5e-3 / 2 * b @ b
    with ufm.float64():
        f = float(ufm.objective(p).f((W, H, b)))
        assert np.allclose(ufm.logits((W, H, b), "relu"), Z, rtol=1e-14)
        assert len(ufm.features((W, H, b), "relu")) == 3
    assert f == pytest.approx(data + reg, rel=1e-14)


def test_deep_solves_batches_and_the_reduction_rule():
    lin = ufm.Problem(K=3, n=3, d=4, loss="ce", depth=2, lam_w=(1e-3, 2e-3), lam_h=1e-3)
    relu = lin.replace(activation="relu")
    assert ufm.reduction(lin).reduced is not None  # deep linear, convex loss: class means exact
    why = ufm.reduction(relu)
    assert why.reduced is None and "not convex" in why.reason and "value" in why.reason
    full = ufm.solve(lin, reduce="never", init_scale=1.0)
    red = ufm.solve(lin, init_scale=1.0)
    assert full.status == red.status == "converged" and red.path == "reduced"
    assert isinstance(red.W, tuple) and [w.shape for w in red.W] == [(4, 4), (3, 4)] and red.H.shape == (4, 9)
    batch = ufm.solve_batch([lin, lin.replace(lam_h=2e-3)], init_scale=1.0)
    assert [w.shape for w in batch.W] == [(2, 4, 4), (2, 3, 4)]
    assert batch[0].objective == pytest.approx(red.objective, rel=1e-10)
    assert isinstance(batch[1].W, tuple) and batch[1].W[1].shape == (3, 4)


def test_deep_command_line(capsys):
    assert main(["solve", "--loss", "mse", "--no-bias", "--K", "3", "--n", "2", "--d", "4", "--depth", "3",
                 "--lam-w", "1e-3,2e-3,3e-3", "--init-scale", "1", "--json"]) == 0
    import json
    rec = json.loads(capsys.readouterr().out)
    assert rec["problem"]["depth"] == 3 and rec["problem"]["lam_w"] == [1e-3, 2e-3, 3e-3]
    assert rec["prediction"]["case"].startswith("mse:deep-L3-linear") and rec["certificate"]["ratio"] is None
    assert main(["solve", "--depth", "3", "--widths", "4"]) == 2
    assert "--widths" in capsys.readouterr().err
    assert main(["solve", "--depth", "2", "--activation", "sigmoid"]) == 2
    assert "--activation" in capsys.readouterr().err


def test_per_layer_metrics_see_frames_ranks_and_balance():
    """`metrics.layers` at a deep linear global minimiser (orthogonal frame, full rank, balanced at every layer),
    at a point whose middle layer drops a rank, and at depth 1 (the vocabulary's nc1 and nc2_means)."""
    from ufm import theory

    p = ufm.Problem(K=3, n=2, d=5, loss="mse", bias=False, depth=3, lam_w=2e-3, lam_h=1e-3)
    W, H, b = theory.minimizer(p)
    rows = ufm.metrics.layers(W, H, b)
    assert [r["layer"] for r in rows] == [1, 2, 3] and rows[-1]["balance"] is None
    for r in rows:
        assert r["rank"] == 3 and r["orthogonal_gap"] <= 1e-14 and r["nc1"] <= 1e-14 and r["balance"] in (None, 0.0)
    W2 = (W[0], np.diag([1.0, 1.0, 0.0, 0.0, 0.0])[:, :5] @ W[1], W[2])  # the middle layer keeps 2 directions
    low = ufm.metrics.layers(W2, H, b)
    assert [r["rank"] for r in low] == [3, 3, 2] and [r["w_rank"] for r in low] == [3, 2, 3]
    assert low[2]["orthogonal_gap"] > 0.1 and low[0]["balance"] > 0.1
    rng = np.random.default_rng(0)
    W1, H1, b1 = rng.standard_normal((3, 4)), rng.standard_normal((4, 6)), rng.standard_normal(3)
    one, m = ufm.metrics.layers(W1, H1, b1), ufm.metrics.all(W1, H1, b1)
    assert len(one) == 1 and one[0]["nc1"] == pytest.approx(m["nc1"], rel=1e-12)
    assert one[0]["nc2_means"] == pytest.approx(m["nc2_means"], rel=1e-12)


def test_deep_trajectory_snapshots_metrics_and_layers():
    p = ufm.Problem(K=3, n=2, d=4, loss="mse", bias=False, depth=3, activation="relu", lam_w=3e-3, lam_h=3e-3)
    tr = ufm.trajectory(p, ufm.GD(lr=0.5), steps=40, every=20, init_scale=0.5)
    assert len(tr) == 3 and isinstance(tr.W, tuple) and tr.W[0].shape == (3, 4, 4)
    W, H, b = tr[2]
    assert [w.shape for w in W] == [(4, 4), (4, 4), (3, 4)]
    with ufm.float64():
        assert float(ufm.objective(p).f((W, H, b))) == pytest.approx(tr.objective[2], rel=1e-12)
    m, layers = tr.metrics(), tr.layers()
    assert m["nc1"].shape == (3,) and len(layers) == 3 and len(layers[0]) == 3
    # metrics.all of the tuple of layers = the vocabulary of W_L and H_L, one member or a batch
    last = ufm.metrics.all(W[-1], ufm.features((W, H, b), "relu")[-1], b)
    assert ufm.metrics.all(W, H, b, activation="relu") == pytest.approx(dict(last), rel=1e-12, nan_ok=True)
    assert m["nc1"][2] == pytest.approx(last["nc1"], rel=1e-12)


def test_one_sample_per_class_runs_in_the_class_mean_program():
    """Full with n = 1 is the class-mean form with counts 1 (same numbers, same f): one program serves both, and
    the solve is the one of the class-mean problem."""
    full = ufm.Problem(K=3, n=1, d=4, depth=2, loss="mse", bias=False, lam_w=1e-3, lam_h=1e-3)
    means = full.replace(means=True)
    with ufm.float64():
        a = ufm.solve(means, method="newton", seed=1)
        with ufm.compilations() as c:
            b = ufm.solve(full, method="newton", reduce="never", seed=1)
    assert b.compile_seconds == 0 and not any("ufm_" in name for name in c.by_name), c.by_name
    assert a.status == b.status == "converged" and a.steps == b.steps
    assert abs(a.objective - b.objective) <= 1e-14 * a.objective
