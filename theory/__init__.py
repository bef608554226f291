"""theory: closed-form UFM minimizers, optimality certificates, Hessian spectra and strict saddles.

Checked against the numerical solves of `ufm` by `ufm verify`. Public API is re-exported here.
"""

__all__: list[str] = []
