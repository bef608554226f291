"""Real networks, end to end, with nothing to download: train, export features over training, measure neural
collapse with `ufm.metrics`, and compare the terminal geometry with the UFM of `ufm.theory`.

Needs the `real` extra (scikit-learn, for its bundled digits data): `pip install 'ufm[real]'`.
"""

from .digits import DigitsConfig, DigitsRun, available, compare_with_ufm, load_digits, train

__all__ = ["DigitsConfig", "DigitsRun", "available", "compare_with_ufm", "load_digits", "train"]
