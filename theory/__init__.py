"""ufm.theory: closed-form UFM minimizers, optimality certificates, Hessian spectra, strict saddles and errata,
each checked against the numerical solves of `ufm` (by the tests and by `ufm verify`).

Every routine computes in float64 whatever the process's JAX setting (they run inside `ufm.float64()`).
"""

from ._contrastive import (
    ScaleMinima, ce_ls_s, ce_ls_scale, etf_basis, lower_bound_gap, nc_minimizer, phi, probabilities, psi, scale_minima,
    scale_objective, scale_slope, xi_ce,
)
from ._mse import MSECase, cases as mse_cases, minimizer as mse_minimizer, mse_bias_threshold, mse_x
from ._mse import value_route as mse_value_route
from ._predict import NoClosedForm, Prediction, minimizer, origin_bias, predict
from ._deep import (
    DNC, DeepCensus, DeepLinearMSE, DeepRun, beta_star, deep_census, deep_linear_mse, deep_linear_mse_minimizer,
    deep_linear_mse_threshold, dnc, LowRank, low_rank,
)
from ._saddles import Saddle, mse_mean_direction, mse_subset, origin, padded, saddles
from ._errata import Erratum, errata
from ._papers import PAPERS, Paper, references
from ._landscape import (
    FLThreshold, fl_convexity_margin, fl_convexity_threshold, fl_min_curvature, polar_ce, polar_ce_two_logit_grad,
    polar_feature, polar_logits, polar_mse, polar_mse_limit_grad,
)
from ._certificate import Certificate, certificate
from ._census import Census, CensusPoint, census
from ._escape import Escape, LocalRate, escape, local_rate
from ._userloss import LossProbe, probe_loss
from ._imbalance import (
    ImbalancedMSE, MinorityThreshold, imbalanced_mse, imbalanced_mse_minimizer, merge_threshold, minority_spread,
    minority_threshold, seli_gram,
)
from ._claimset import CLAIM_KEYS, CLAIMS, ClaimSpec, claim_spec
from ._verify import FAMILIES, Claim, Family, Report, verify
from ._claims import LedgerRow, claims, ledger_markdown
from ._record import certificate_of, flat_record, solution_record
from ._hessian import (
    PredictedSpectra, Spectrum, clusters, extreme_eigenvalues, hessian_full, hessian_h_blocks, hessian_w,
    predicted_spectra, rotation_zero_modes, spectrum, zero_modes, spectrum_full, spectrum_h, spectrum_w,
)

__all__ = ["DNC", "dnc", "LowRank", "low_rank", "DeepCensus", "DeepRun", "deep_census", "DeepLinearMSE", "beta_star", "deep_linear_mse", "deep_linear_mse_minimizer", "deep_linear_mse_threshold",
    "Prediction", "predict", "minimizer", "origin_bias", "NoClosedForm",
    "MSECase", "mse_cases", "mse_x", "mse_bias_threshold", "ce_ls_s", "mse_value_route", "mse_minimizer",
    "ScaleMinima", "scale_objective", "scale_minima", "scale_slope", "ce_ls_scale", "probabilities",
    "etf_basis", "nc_minimizer", "phi", "psi", "lower_bound_gap", "xi_ce",
    "Erratum", "errata", "PAPERS", "Paper", "references", "FLThreshold", "fl_convexity_margin", "fl_convexity_threshold", "fl_min_curvature",
    "polar_feature", "polar_logits", "polar_mse", "polar_ce", "polar_mse_limit_grad", "polar_ce_two_logit_grad",
    "Certificate", "certificate", "Census", "CensusPoint", "census", "Escape", "escape", "LocalRate", "local_rate", "LossProbe", "probe_loss", "ImbalancedMSE", "imbalanced_mse", "imbalanced_mse_minimizer", "minority_spread",
    "MinorityThreshold", "merge_threshold", "seli_gram", "minority_threshold", "Claim", "Report", "verify", "CLAIM_KEYS", "CLAIMS", "ClaimSpec", "claim_spec", "FAMILIES", "Family", "LedgerRow", "claims", "ledger_markdown", "certificate_of", "solution_record", "flat_record", "Saddle", "saddles", "origin", "padded", "mse_subset", "mse_mean_direction",
    "Spectrum", "PredictedSpectra", "clusters", "spectrum", "hessian_w", "hessian_h_blocks", "hessian_full",
    "spectrum_w", "spectrum_h", "spectrum_full", "extreme_eigenvalues", "predicted_spectra", "rotation_zero_modes", "zero_modes",
]
