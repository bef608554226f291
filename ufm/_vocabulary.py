"""The vocabulary of neural-collapse quantities: one key per quantity, with its formula and the paper that defines
it. `metrics.all` (a UFM solution), `metrics.collapse` and `Accumulator` (a network's features), `ufm solve`,
`ufm metrics` and scan rows all use these keys; 0.2's other names are accepted for one release as aliases, with a
DeprecationWarning (`Metrics`).

Notation: K classes, N samples, features h (d,), class means μ_k, global mean μ_G (the mean of all samples),
M the K×d matrix of centred class means m_k = μ_k − μ_G, Σ_W the within-class covariance, Σ_B = MᵀM/K,
E = (I − 11ᵀ/K)/√(K−1) the normalised simplex-ETF Gram matrix, Â = A/‖A‖_F. W (K,d) holds the classifier rows.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

_PAPYAN = "Papyan, Han & Donoho 2020, arXiv 2008.08186"
_ZHU = "Zhu et al. 2021, arXiv 2105.02375"
_ZHOU = "Zhou et al. 2022, arXiv 2203.01238"
_GUO = "Guo et al. 2025, arXiv 2402.03979"


class Quantity(NamedTuple):
    """One NC quantity: its key, formula, source (paper and equation) and the names 0.2 gave it."""

    key: str
    formula: str
    source: str
    aliases: tuple = ()


VOCABULARY: tuple[Quantity, ...] = (
    Quantity("nc1", "(1/K) tr(Σ_W Σ_B^†), Σ_B^† on the top K−1 directions of M",
             f"{_PAPYAN}, Fig. 6; {_ZHU}, eq. 7; {_ZHOU}, eq. 6; {_GUO}, eq. 4"),
    Quantity("cdnv", "mean over class pairs of (σ_k² + σ_l²)/(2‖μ_k − μ_l‖²), σ_k² = E_k‖h − μ_k‖²",
             "Galanti, György & Hutter 2022, arXiv 2112.15121, Def. 1"),
    Quantity("nc2_w", "‖(WWᵀ)^ − E‖_F: the classifier rows against a simplex ETF", f"{_ZHU}, eq. 8; {_ZHOU}, eq. 7",
             ("nc2",)),
    Quantity("nc2_means", "‖(MMᵀ)^ − E‖_F: the centred class means against a simplex ETF", f"{_ZHU}, eq. 8 form"),
    Quantity("equinorm_w", "std/mean of ‖w_k‖", f"{_PAPYAN}, Fig. 2"),
    Quantity("equinorm_means", "std/mean of ‖m_k‖", f"{_PAPYAN}, Fig. 2"),
    Quantity("equiangle_means", "std over pairs of cos(m_k, m_l)", f"{_PAPYAN}, Fig. 3"),
    Quantity("maxangle_means", "mean over pairs of |cos(m_k, m_l) + 1/(K−1)|", f"{_PAPYAN}, Fig. 3"),
    Quantity("nc3", "‖(WMᵀ)^ − E‖_F: the classifier aligned with the centred means",
             f"{_ZHU}, eq. 9; {_ZHOU}, eq. 8; {_GUO}, eq. 5 (its NC2)", ("nc2_guo",)),
    Quantity("nc3_duality", "‖Ŵ − M̂‖_F: classifier rows against centred means, class by class (not squared)",
             f"{_PAPYAN}, Fig. 4; {_GUO}, eq. 6 (its NC3)", ("nc3_guo",)),
    Quantity("nc4", "fraction of samples where argmax_k (Wh + b)_k ≠ argmin_k ‖h − μ_k‖", f"{_PAPYAN}, Fig. 7",
             ("ncc_agreement",)),
    Quantity("nc4_nobias", "the same with argmax_k (Wh)_k", f"{_PAPYAN}, Fig. 7, without the bias"),
    Quantity("accuracy", "fraction with argmax_k (Wh + b)_k = label", "training accuracy"),
    Quantity("accuracy_nobias", "fraction with argmax_k (Wh)_k = label", "training accuracy without the bias"),
    Quantity("ncc_accuracy", "fraction whose nearest class mean is their own class", f"{_PAPYAN}, Fig. 7"),
    Quantity("numerical_rank", "(1/K) Σ_k ‖H_k‖_*² / ‖H_k‖_F² over each class's features H_k",
             f"{_ZHOU}, §4"),
    Quantity("cm_min", "min over samples of CM = cos θ(h − μ_G, w_k − w_G) − max_{j≠k} cos θ(h − μ_G, w_j − w_G)",
             f"{_ZHOU}, §4"),
    Quantity("cm_mean", "mean over samples of the cosine margin CM", f"{_ZHOU}, §4"),
    Quantity("w_norm_mean", "(1/K) Σ_k ‖w_k‖", f"{_GUO}, footnote 2"),
    Quantity("h_mean_norm_mean", "(1/K) Σ_k ‖m_k‖", f"{_GUO}, footnote 2"),
    Quantity("self_duality", "‖H̄ − c Wᵀ‖_F/‖H̄‖_F at the best c (uncentred means H̄)", f"{_ZHOU}, Thm 3.1 (h̄_k ∝ w_k)"),
    Quantity("duality_scale", "that c = ⟨H̄, Wᵀ⟩/‖W‖_F² (√(λ_W/(nλ_H)) at NC)", f"{_ZHOU}, Lemma B.4"),
)

KEYS = tuple(q.key for q in VOCABULARY)

# 0.2 name → (key, how its value follows from the key's): kept for one release.
ALIASES: dict[str, tuple[str, Callable]] = {
    alias: (q.key, (lambda v: 1 - v) if alias == "ncc_agreement" else (lambda v: v))
    for q in VOCABULARY for alias in q.aliases
}


def _deprecated(alias: str, stacklevel: int) -> None:
    key = ALIASES[alias][0]
    how = f"1 − {key}" if alias == "ncc_agreement" else key
    warnings.warn(f"metrics: '{alias}' is the 0.2 name of {how}; use '{key}' (the old name goes in 0.4)",
                  DeprecationWarning, stacklevel=stacklevel + 1)


class Metrics(dict):
    """A dict of NC quantities under the keys of `VOCABULARY`. A 0.2 name (`ALIASES`) still reads, with a
    DeprecationWarning that names its key. `note`: why some quantities are NaN (no between-class spread, W = 0),
    "" if none."""

    note: str = ""

    def _alias(self, key, stacklevel: int):
        _deprecated(key, stacklevel + 1)
        new, f = ALIASES[key]
        return f(dict.__getitem__(self, new))

    def __getitem__(self, key):
        if key in ALIASES and not dict.__contains__(self, key):
            return self._alias(key, 2)
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        if key in ALIASES and not dict.__contains__(self, key) and dict.__contains__(self, ALIASES[key][0]):
            return self._alias(key, 2)
        return dict.get(self, key, default)


def quantity(key: str) -> Quantity:
    """The quantity of `key` (a 0.2 alias is resolved)."""
    key = ALIASES.get(key, (key,))[0]
    for q in VOCABULARY:
        if q.key == key:
            return q
    raise KeyError(f"no NC quantity {key!r}; the keys are {', '.join(KEYS)}")


__all__ = ["Quantity", "VOCABULARY", "KEYS", "ALIASES", "Metrics", "quantity"]
