"""A real network: neural collapse along the training of an MLP on scikit-learn's digits, measured with
`ufm.metrics.Timeline`, and its terminal geometry against the matching CE UFM."""

from __future__ import annotations


import numpy as np

import ufm
from ufm.experiments import real

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "digits-mlp"
TITLE = "Neural collapse in a real network: an MLP on the digits data, and the matching UFM"
REPRODUCES = ("toolkit figure on a real network (no paper has this one); NC1–NC4 of Papyan, Han & Donoho 2020, "
              "arXiv 2008.08186, CDNV of Galanti et al. 2022, arXiv 2112.15121")
CAPTION = ("An MLP 64–128–64–10 (ReLU) trained on scikit-learn's digits (1 797 images, 10 classes of 174–183; "
           "bundled, no download) by full-batch SGD with momentum and weight decay on every parameter; the "
           "penultimate features (d = 64), classifier W and bias b are measured every few steps with "
           "ufm.metrics.Timeline. (a) training accuracy and loss; (b) within-class variability NC1 and CDNV; "
           "(c) the geometry of the class means and the classifier: NC2 of the means and of W, NC3 and "
           "self-duality; (d) NC4 (classifier vs nearest class mean, with the bias) and the equinorm of the means. "
           "The accuracy reaches 100% early and NC1, CDNV and NC4 keep falling, but at this network's stationary "
           "point the class means stay far from a simplex ETF: the UFM's directions are not reached. The JSON "
           "compares the final geometry with the CE UFM of the same K, n = N/K, d and weight decay, with the "
           "feature decay λ_H read off the measured ratio ‖w_k‖/‖h̄_k − h_G‖ (the network has no λ_H): the UFM's "
           "norms and logit scale then fall 15–25% below the network's (full run: ‖w_k‖ 1.45 vs 1.73, logit "
           "scale 8.9 vs 11.7).")


def params(quick: bool) -> dict:
    cfg = real.DigitsConfig(steps=1500, every=25) if quick else real.DigitsConfig(steps=6000, every=25)
    return {"hidden": cfg.hidden, "steps": cfg.steps, "every": cfg.every, "lr": cfg.lr, "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay, "seed": cfg.seed}


def draw(p: dict, quick: bool):
    run = real.train(real.DigitsConfig(**p))
    t, step = run.table, run.step
    fig, axes = subplots(1, 4, height=2.2)
    a = axes[0, 0]
    a.plot(step, t["train_accuracy"], color=PALETTE[0], label="train accuracy")
    a.plot(step, t["loss"], color=PALETTE[1], label="loss + decay")
    a.set_title("(a) training", pad=2)
    panels = ((axes[0, 1], "(b) variability", (("nc1", r"$\mathcal{NC}_1$"), ("cdnv", "CDNV"))),
              (axes[0, 2], "(c) geometry", (("nc2_means", r"$\mathcal{NC}_2$ means"), ("nc2_w", r"$\mathcal{NC}_2$ W"),
                                            ("nc3", r"$\mathcal{NC}_3$"), ("nc3_duality", "self-duality"))),
              (axes[0, 3], "(d) decisions", (("nc4", r"$\mathcal{NC}_4$"), ("equinorm_means", "equinorm means"))))
    for ax, title, keys in panels:
        for i, (key, label) in enumerate(keys):
            ax.plot(step, t[key], color=PALETTE[i], label=label)
        ax.set_yscale("linear" if ax is axes[0, 3] else "log")  # NC4 reaches exactly 0
        ax.set_title(title, pad=2)
    for ax in axes[0]:
        ax.set_xlabel("step")
        ax.set_xscale("log")
        ax.legend(loc="best")

    # The last checkpoint streamed in batches equals the in-memory measurement.
    acc = ufm.metrics.Accumulator(10, run.features.shape[1])
    for lo in range(0, run.labels.size, 256):
        acc = acc.update(run.features[lo:lo + 256], run.labels[lo:lo + 256])
    streamed = acc.result(run.W, run.b).nc1
    first_perfect = int(np.argmax(t["train_accuracy"] >= 1.0))
    cmp = real.compare_with_ufm(run)
    ratio_ufm = cmp["w_norm"]["ufm"] / cmp["h_mean_norm"]["ufm"]
    ratio_net = cmp["w_norm"]["measured"] / cmp["h_mean_norm"]["measured"]
    checks = {
        "training accuracy reaches 100%": _record.check(t["train_accuracy"][-1], 1.0, "the terminal phase", upper=False),
        "NC1 falls after 100% accuracy (last/first)": _record.check(
            t["nc1"][-1] / t["nc1"][first_perfect], 0.9, "variability collapse continues in the terminal phase"),
        "CDNV falls after 100% accuracy (last/first)": _record.check(
            t["cdnv"][-1] / t["cdnv"][first_perfect], 0.9, "as NC1"),
        "NC4 at the end": _record.check(t["nc4"][-1], 0.02, "classifier ≈ nearest class mean"),
        "streamed NC1 = in-memory NC1 (rel)": _record.check(
            abs(streamed - t["nc1"][-1]) / t["nc1"][-1], 1e-9, "same float64 statistics, another order"),
        "UFM norm ratio = measured (effective λ_H, rel)": _record.check(
            abs(ratio_ufm - ratio_net) / ratio_net, 1e-8, "λ_H is chosen to match it: a check of Thm 4.1's ratio"),
    }
    data = {"step": step, **{k: v for k, v in t.items()}, "ufm_comparison": cmp, "train_seconds": run.seconds}
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=17)
