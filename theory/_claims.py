"""The claims ledger: every numbered statement of the four UFM papers, the main results of the five deep-UFM
papers, and what the toolkit does with it.

One row per theorem, lemma, proposition, corollary and definition (and the displayed equations and remarks the
errata concern): status "checked" (by the named claims of `ufm verify`), "erratum" (a record of `errata()`,
re-verified when it runs; the claims that check the corrected statement are named too) or "not checkable" (with
the reason: a definition, or a fact about matrices or scalars that no UFM computation tests).
"""

from __future__ import annotations

from typing import NamedTuple

from ._papers import PAPERS


class LedgerRow(NamedTuple):
    """paper: arXiv id (`PAPERS`); number: as printed ('Thm 3.1', 'Lemma B.4'); statement: one line; status:
    'checked' | 'erratum' | 'not checkable'; claims: keys of `ufm verify` claims; erratum: the `Erratum.location`
    of its record; why: the reason a row is not checkable, or a remark."""

    paper: str
    number: str
    statement: str
    status: str
    claims: tuple = ()
    erratum: str = ""
    why: str = ""

    @property
    def citation(self) -> str:
        return f"{PAPERS[self.paper].short}, {self.number}"


STATUSES = ("checked", "erratum", "not checkable")


def _c(paper, number, statement, *claims, why=""):
    return LedgerRow(paper, number, statement, "checked", tuple(claims), "", why)


def _e(paper, number, statement, erratum, *claims, why=""):
    return LedgerRow(paper, number, statement, "erratum", tuple(claims), erratum, why)


def _n(paper, number, statement, why):
    return LedgerRow(paper, number, statement, "not checkable", (), "", why)


_LOSSES, _MSE, _GEO, _LS = "2210.02192", "2203.01238", "2105.02375", "2402.03979"
_DL, _DNC23, _DNC24, _GK, _TB = "2301.00437", "2305.13165", "2405.14468", "2410.23169", "2202.08087"
_UNNUMBERED = ("a main result as the paper's abstract or its summary states it; its printed theorem number is not "
               "recorded (no copy of the paper on this machine)")
_MATRIX = "a fact about matrices, with no UFM quantity in it (used inside a proof)"
_SCALAR = "a scalar inequality, with no UFM quantity in it"

_ROWS = (
    # Zhou, You, Li, Liu, Liu, Qu, Zhu 2022: main text and appendix
    _c(_LOSSES, "Def. 1 (App. Def. 3)", "contrastive property: L(z, y_k) ≥ φ(Σ_j (z_j − z_k)), equality iff the "
       "off-target logits are equal; CE, FL, LS have it (App. B)", "phi"),
    _n(_LOSSES, "App. Def. 2", "the K-simplex ETF", "a definition (claims nc and proc test solutions against it)"),
    _e(_LOSSES, "Thm 1 (App. Thm 3)", "K < d, balanced, contrastive loss: every global minimiser is NC (ETF "
       "classifier, collapsed self-dual features, b = b1) at the scale of a 1-D problem",
       "Thm 1 (W ∈ R^{K×d}, rows w^k)", "obj", "nc", "scale", "proc", "sdual", "ext"),
    _c(_LOSSES, "Thm 2", "d > K, loss convex in the logits: every critical point is a global minimiser or a "
       "strict saddle", "census", "smin", "sratio", "sesc", "fesc"),
    _c(_LOSSES, "Cor. 1", "LS: the landscape of Thm 2 (benign)", "census", "smin"),
    _c(_LOSSES, "Cor. 2", "FL: benign where FL is convex at the minimiser (the convexity region of γ)", "fl",
       "census", why="the sharp convexity threshold τ(γ) is derived; the printed 0.21 is sufficient"),
    _n(_LOSSES, "App. Lemma 1", "Young's inequality", _SCALAR),
    _c(_LOSSES, "App. Lemma 2", "‖Z‖_* = min_{WH = Z} (‖W‖²_F + α‖H‖²_F)/(2√α)", "cert", "gap",
       why="the relaxation it defines is tight at every solved minimiser"),
    _n(_LOSSES, "App. Lemma 3", "eigenvalues of a diagonal-plus-rank-one matrix", _MATRIX),
    _n(_LOSSES, "App. Lemma 4", "singular values of −Π diag(ρ): all equal or all but one zero", _MATRIX),
    _c(_LOSSES, "App. Lemma 5", "critical points: λ_W WᵀW = λ_H HHᵀ, ‖W‖²_F = (λ_H/λ_W)‖H‖²_F", "crit"),
    _c(_LOSSES, "App. Lemma 6", "critical points: WᵀG_i = −λ_H H_i (stationarity in H)", "crit", "sgrad",
       why="the H-block of ∇f = 0; every converged solve and constructed saddle satisfies it"),
    _e(_LOSSES, "App. Lemma 7", "critical points have an isotropic bias b = τ1",
       "App. C, Lemma 7 (critical points of eq. 16)", "b"),
    _c(_LOSSES, "App. Lemma 8", "lower bound f ≥ φ-bound at the optimal scale, attained by Z* = −ρ*Π-form",
       "obj", "scale"),
    _c(_LOSSES, "App. Lemma 9", "equality in Lemma 8 iff equal norms, b = b1, h = √(λ_W/(λ_H n)) w, ETF",
       "nc", "sdual", "b", "norm"),
    _c(_LOSSES, "eq. (10) and App. Figs 9–10", "ψ(t) = φ(t) + c|t| and its minimiser (the FL scale)", "obj",
       "scale", why="figure losses22-figs9-10-psi-fl checks the curves"),
    _e(_LOSSES, "App. C proof of Thm 3 (after eq. 29); App. Fig. 10 caption", "the optimal value is φ(p*) + "
       "c|p*| with c = K√(nλ_Wλ_H)", "App. C, proof of Thm 3 (after eq. 29) and App. B, Fig. 10 caption", "obj",
       "scale", why="the same proof's eq. 32 has (K − 1)√(nλ_Wλ_H) on the per-entry gap, which the solves confirm"),
    # Zhou, Li, Ding, You, Qu, Zhu 2022 (MSE)
    _e(_MSE, "Thm 3.1", "vanilla MSE, balanced: NC1 and NC3 at every global minimiser; H̄ᵀH̄ ∝ P_d(Π) (d < K−1), "
       "∝ Π-form (d ≥ K−1); b* in two λ_b regimes; zero solution past λ_Wλ_H = 1/(NK)",
       "Thm 3.1 (main text), bias, d ≥ K, second λ_b regime", "obj", "nc", "b", "route", "sdual", "dlow",
       why="a second erratum: 'Thm 3.1 (main text), λ_b threshold (and the coefficient in C_4's regime)'"),
    _e(_MSE, "§3.1 (rescaled MSE)", "the global optimality results are expected to hold for the rescaled MSE "
       "(α, M)", "§3.1 ('Extension to the rescaled MSE'), at d = K − 1", "alpha",
       why="conjectured there; at d ≥ K NC1, NC3, NC4, self-duality and the Gram's span{I, 11ᵀ} form hold, "
           "certified"),
    _c(_MSE, "Thm 3.2", "MSE without bias: strict saddle function, no spurious local minima (any d)", "census",
       "smin", "sesc", "fesc", why="saddles at d ≤ K included; at d < K without a bias every non-global critical "
       "point is rank-deficient (YYᵀ = nI: any d-subspace is a global minimiser), while with a bias a full-rank "
       "strict saddle on the all-ones direction exists (theory.mse_mean_direction, in claims smin and census)"),
    _c(_MSE, "Thm 3.3", "MSE with bias, d > K: strict saddle function", "census", "smin", "sesc", "sratio"),
    _c(_MSE, "Thm B.1", "the appendix form of Thm 3.1: minimisers, values and b* in every case", "obj", "route",
       "proc", "b"),
    _e(_MSE, "Lemma B.2", "min of ½‖WH − Ỹ‖² + λ_W/2‖W‖² + λ_H/2‖H‖²: singular-value thresholding, value ξ*",
       "Lemma B.2, eq. (15), case d < K", "route"),
    _c(_MSE, "Lemma B.3", "singular values of Y − b1ᵀ: √n with multiplicity ≥ K − 2, bounds on σ₁ and σ_K",
       "route", why="the value route takes the σ's from a numerical SVD and matches the case formulas"),
    _c(_MSE, "Lemma B.4", "self-duality h = √(λ_W/(λ_H n)) w; zero iff λ_Wλ_H ≥ 1/(NK); WWᵀ per d-case",
       "sdual", "proc", "dlow", "obj"),
    _c(_MSE, "eq. (10)", "f ≥ λ_b/2‖b‖² + (1/N)·Σ thresholded-σ terms (+ ½Σ_{i>d}σ_i² for d < K)", "route"),
    _e(_MSE, "Prop. C.1 with eq. (30)", "the MSE loss of a feature on span{w^k, w^k'} in polar coordinates",
       "App. C.1, eq. (30)"),
    _e(_MSE, "eqs. (32)–(35)", "the CE loss in polar coordinates and its K → ∞ gradient field",
       "App. C.2, eq. (35)"),
    _n(_MSE, "Def. .1 (App.)", "the K-simplex ETF", "a definition (printed without its section number)"),
    # Zhu, Ding, Zhou, Li, You, Sulam, Qu 2021
    _c(_GEO, "Thm 3.1", "CE, d ≥ K, balanced: every global minimiser is NC (ETF, collapse, self-duality, "
       "b = b1)", "obj", "nc", "proc", "b", "sdual", "norm"),
    _e(_GEO, "remark after Thm 3.1", "d ≥ K is necessary for Thm 3.1",
       "remark after Thm 3.1 ('d ≥ K is necessary')", "ext"),
    _e(_GEO, "Thm 3.2", "d > K: no spurious local minima; every other critical point a strict saddle with a "
       "non-degenerate Hessian", "Thm 3.2 and Thm C.1 ('the Hessian … is non-degenerate')", "census", "smin",
       "sray", "sratio", "sesc", "fesc", "zero"),
    _c(_GEO, "Thm B.1", "the appendix form of Thm 3.1", "obj", "nc", "b"),
    _e(_GEO, "Thm C.1", "the appendix form of Thm 3.2", "Thm 3.2 and Thm C.1 ('the Hessian … is non-degenerate')",
       "census", "smin"),
    _n(_GEO, "Def. A.1", "the K-simplex ETF", "a definition"),
    _n(_GEO, "Lemma A.2", "Young's inequality", _SCALAR),
    _c(_GEO, "Lemma A.3", "‖Z‖_* = min_{WH = Z} (‖W‖²_F + α‖H‖²_F)/(2√α)", "cert", "gap"),
    _n(_GEO, "Lemma A.4", "unique PSD k-th root (Horn & Johnson Thm 7.2.6)", _MATRIX),
    _c(_GEO, "Lemma B.2", "critical points: λ_W WᵀW = λ_H HHᵀ, ρ = ‖W‖²_F", "crit"),
    _c(_GEO, "Lemma B.3", "critical points: f ≥ ξ(ρ, λ_W, λ_H)", "xi"),
    _c(_GEO, "Lemma B.4", "equality in Lemma B.3 iff equal norms, b = b1, self-duality, ETF", "nc", "sdual", "b",
       "xi"),
    _c(_GEO, "Lemma B.5", "CE ≥ (Σ_i z_i − K z_k)/((1 + c₁)(K − 1)) + c₂", "xi", "phi",
       why="through its tight case: min_ρ ξ equals the CE minimum and ξ = g on the NC family"),
    _c(_GEO, "Lemma C.2", "a global minimiser of the convex program (37) gives the UFM's global minimum", "cert",
       "gap"),
    _c(_GEO, "Lemma C.3", "optimality of (37): ∇g ∈ −λ_Z ∂‖Z‖_*, ∇g 1 = −λ_b b", "cert"),
    _c(_GEO, "Lemma C.4", "a critical point with ‖∇g‖₂ ≤ λ_Z is a global minimiser", "cert", "sratio"),
    # Guo, Andriopoulos, Zhao, Dong, Ling, Ross 2025
    _c(_LS, "Thm 4.1 (App. Thm D.1)", "CE/LS, d ≥ K: global minimisers are the ETF at scale a^δ, b = 0, with "
       "the norms of eqs. 11–12", "obj", "proc", "b", "norm", "nc", "sdual", "scale"),
    _e(_LS, "Thm 4.2", "at the minimiser κ(∇²_W φ) = κ(∇²_H φ) = K·p_t (hence LS converges faster)",
       "Thm 4.2 with App. E eqs. (49), (51), (58), (59), at K = 2", "kappa", "spec", "lsrate",
       why="K·p_t holds for K ≥ 3; its conclusion does not carry to the full regularised Hessian, whose "
           "condition number is larger for LS than for CE in every case of claim lsrate"),
    _e(_LS, "App. E eq. (52)", "the W-block Hessian's scale n(λ_W/(λ_H n))^{1/2} a", "App. E eq. (52)", "spec"),
    _n(_LS, "Def. C.1", "the K-simplex ETF", "a definition"),
    _n(_LS, "Lemma C.2", "Young's inequality", _SCALAR),
    _c(_LS, "Lemma C.3", "‖Z‖_* = min_{Z = WᵀH} (‖W‖²_F + α‖H‖²_F)/(2√α)", "cert", "gap"),
    _e(_LS, "Prop. C.4", "the class-mean form of Lemma C.3 equals ‖Z̄‖_*", "Prop. C.4, eq. (21)", "cert"),
    _c(_LS, "Lemma D.2", "optimality of the convex program: N⁻¹(Y^δ − P) ∈ λ_Z∂‖Z‖_*, N⁻¹(Y^δ − P)1 = λ_b b",
       "cert"),
    _c(_LS, "Lemma D.3", "K ≤ d: predictions collapse to their class means", "nc"),
    _c(_LS, "Lemma D.4", "collapsed, centred predictions: the optimality system in Z̄", "cert", "scale"),
    _c(_LS, "Lemma D.5", "the global minimiser Z = a^δ Π Y, b = 0", "scale", "obj", "b"),
    _n(_LS, "footnote 1", "NC2 = 0 with b = 0 or b ∝ 1 makes the mean logits a simplex ETF",
       "a consequence of the NC2 definition, not a statement about UFM solutions (claim nc measures NC2)"),
    # The deep UFM. No copy of these five papers is on this machine, and the stored pages give their abstracts
    # only: each row is a main result as the abstract states it, `number` names the result (not a printed
    # theorem number), and `why` says so. Conventions: ufm's f is the papers' DUFM objective with
    # (1/N)Σ ½‖z − y‖² = 1/(2N)‖Z − Y‖²_F and λ/2‖·‖² penalties (Problem's docstring); where a paper scales its
    # λ's otherwise the rows could not check it from the printed text.
    *(_c(paper, number, statement, *keys, why=_UNNUMBERED + (f"; {why}" if why else ""))
      for paper, number, statement, keys, why in (
        (_DL, "main result (balanced MSE, bias-free)", "deep linear UFM: global minimisers have NC at every "
         "layer, the class means an orthogonal frame (rank min(K, widths)) or 0", ("deep_lin", "deep_thr"),
         "the value by the closed form (quasi-norm route), the geometry by its minimiser"),
        (_DL, "main result (imbalanced MSE, bias-free)", "deep linear UFM with class counts: features collapse; "
         "class means and classifiers form an orthogonal frame whose lengths depend on n_k", ("deep_imb",),
         "smaller classes collapse to 0 first (their λ*_k is smaller)"),
        (_DNC23, "main result", "binary deep UFM with ReLU and MSE: deep neural collapse is globally optimal",
         ("dnc_opt", "dnc_val"), "K = 2 at L = 3, 4: no census start below f_DNC (8 starts)"),
        (_DNC24, "main result (DNC not optimal)", "beyond two classes or two layers deep neural collapse is not "
         "optimal: lower-rank points have a lower objective (low-rank bias)", ("dnc_low", "dnc_graph"),
         "found by the census (K = 4, L = 4) and by the complete-graph construction (K = 6, 10 at L = 4)"),
        (_DNC24, "K = 10 construction", "the complete graph on 5 vertices gives a rank-5 point for K = 10 that "
         "beats DNC", ("dnc_graph",), "ufm's version of the construction is above DNC at L = 2, 3 and below at "
         "L ≥ 4 (C_LR/C_DNC = 1.357, 1.057, 0.910)"),
        (_DNC24, "main result (two layers)", "with two layers deep neural collapse stays optimal", ("dnc_opt",),
         "K = 3, 4 at L = 2: no census start below f_DNC (8 starts)"),
        (_TB, "main result (MSE)", "extended UFM (one hidden layer between free features and classifier), MSE: "
         "global minimisers exhibit collapse in both layers, orthogonal class means", ("dnc_opt", "deep_lin"),
         "ufm's depth 2 with linear and ReLU activations; λ convention not mapped from the printed text"),
    )),
    _n(_DL, "main result (CE)", "deep linear UFM, balanced CE: global minimisers exhibit NC (simplex ETF)",
       _UNNUMBERED + "; the printed conditions could not be read, so no verdict: in ufm's reading (bias-free, "
       "balanced, d and widths ≥ K) it holds at L = 2 and fails at L ≥ 3 for K ≥ 4 — claim deep_ce finds "
       "lower-rank points below the ETF point (K = 4, L = 3, λ = 1e-3: 0.0165952 < 0.0179748, rank 2)"),
    _n(_DL, "main result (balanced MSE with bias)", "deep linear UFM with a last-layer bias: NC with a simplex "
       "ETF", _UNNUMBERED + "; not checkable here yet: the deep linear closed form is bias-free"),
    _c(_GK, "main result (CE, low-rank bias)", "deep UFM with cross-entropy: low-rank solutions beat DNC at "
       "depth", "deep_ce", why=_UNNUMBERED + "; deep linear CE: below the ETF point at L ≥ 3 (K = 4: rank 2, "
       "−7.7 % at L = 3; K = 6, L = 4: rank 2, −20.9 %), not at L = 2; the structure of the weights' singular "
       "values at the optimum is not checked"),
    _c(_GK, "main result (persistence of DNC)", "DNC remains a critical point / local minimum for small "
       "regularisation", "deep_ce", why=_UNNUMBERED + "; the ETF point is critical (‖∇f‖/f ≤ 1e-13) with no "
       "negative curvature found where lower points exist; its degeneracy on the loss surface is not measured"),
)


def claims() -> tuple[LedgerRow, ...]:
    """The ledger: one `LedgerRow` per numbered statement of the four papers (see the module docstring)."""
    return _ROWS


def ledger_markdown() -> str:
    """The ledger as a Markdown table (the documentation site's claims page, and `ufm verify --ledger`)."""
    lines = ["| paper | statement | one line | status | by |", "|---|---|---|---|---|"]
    for r in _ROWS:
        by = {"checked": ", ".join(r.claims) + (f" ({r.why})" if r.why else ""), "not checkable": r.why,
              "erratum": f"erratum “{r.erratum}”" + (f"; corrected form: {', '.join(r.claims)}" if r.claims else "")
              + (f" ({r.why})" if r.why else "")}
        cells = (PAPERS[r.paper].short, r.number, r.statement, r.status, by[r.status])
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
