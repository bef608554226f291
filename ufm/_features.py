"""Features as networks hand them over, checked before anything is computed: the array and its layout, the
labels (integers in [0, K), one per sample, every class present unless asked otherwise), the classifier; and the
chunks they are folded in by (every N uses a few compiled programs). Each refusal is one line that names the call
and the problem (`LabelError`, `ufm.ParameterError`)."""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from ._errors import ParameterError, UFMError

CHUNK = 4096  # rows folded in at once: the float64 copy of a chunk is the largest temporary
LAYOUTS = ("N,d", "d,N")


class LabelError(UFMError, ValueError):
    """Labels that cannot define classes (wrong type, out of range, wrong length, an empty class).

    where: the call that refused them; problem: what is wrong, in words; fixes: keyword arguments that would
    make the call valid, as (name, value) pairs (the message spells them as Python keywords; the command line
    spells them as its flags); purpose: what the fixes do, if that needs saying."""

    def __init__(self, where: str, problem: str, fixes: tuple = (), purpose: str = ""):
        self.where, self.problem, self.fixes, self.purpose = where, problem, tuple(fixes), purpose
        hint = " or ".join(f"pass {name}={value}" for name, value in self.fixes)
        hint += f" {purpose}" if hint and purpose else ""
        super().__init__(f"{where}: {problem}" + (f"; {hint}" if hint else ""))

def _as_rows(features, layout: str, where: str):
    if layout not in LAYOUTS:
        raise ParameterError("layout", layout, "'N,d' (rows are samples) or 'd,N' (columns are samples)", where)
    H = np.asarray(features) if not isinstance(features, jax.Array) else features
    if H.ndim != 2:
        raise ParameterError("features", f"an array of shape {tuple(H.shape)}", f"2-D, laid out as {layout!r}", where)
    if not jnp.issubdtype(H.dtype, jnp.floating):
        raise ParameterError("features", f"dtype {H.dtype}", "a floating-point array", where)
    H = H if layout == "N,d" else H.T
    finite = np.isfinite(H).all(axis=1) if isinstance(H, np.ndarray) else np.asarray(jnp.all(jnp.isfinite(H), axis=1))
    if not finite.all():
        i = int(np.argmin(finite))
        raise ParameterError("features", f"NaN or Inf in sample {i} (and {int((~finite).sum()) - 1} more)",
                             "finite everywhere", where)
    return H


def _as_labels(labels, N: int, K: int | None, where: str):
    if labels is None:
        raise LabelError(where, "labels are required (one integer class per sample; the UFM's class-major order "
                                "is `ufm.class_labels(K, n)`)")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise LabelError(where, f"labels must be 1-D; got shape {y.shape}")
    if y.shape[0] != N:
        raise LabelError(where, f"{y.shape[0]} labels for {N} samples (check the layout: 'N,d' or 'd,N')")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise LabelError(where, f"labels must be integers; got dtype {y.dtype} (convert with .astype(int) if they "
                                "are whole numbers)")
    lo, hi = (int(y.min()), int(y.max())) if N else (0, -1)
    if hi >= 2**31 - 1:
        raise LabelError(where, f"labels must be below 2^31 − 1; label {hi} at sample {int(np.argmax(y))} is not "
                                "(one class per label: is it out of place?)")
    given = K is not None
    if K is None:
        K = hi + 1
    if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 2:
        raise ParameterError("num_classes", K, "an integer ≥ 2", where)
    if lo < 0 or hi >= K:
        bad = lo if lo < 0 else hi
        fixes = () if given or lo < 0 else (("num_classes", hi + 1),)
        raise LabelError(where, f"labels must lie in [0, {K}); found {bad} (labels 1..K need y − 1)", fixes)
    return y.astype(np.int32), int(K)


def _batch(features, labels, layout: str, dim: int, K: int, where: str):
    """A streamed batch, validated as in `collapse` and against the accumulator's dimension: (rows, labels)."""
    H = _as_rows(features, layout, where)
    if H.shape[1] != dim:
        raise ParameterError("features", f"dimension {H.shape[1]}", f"dimension {dim}", where)
    return H, _as_labels(labels, H.shape[0], K, where)[0]


def _present(count: np.ndarray, allow_empty: bool, where: str) -> np.ndarray:
    present = count > 0
    if not present.all() and not allow_empty:
        missing = np.flatnonzero(~present)
        raise LabelError(where, f"class {int(missing[0])} has no samples ({missing.size} empty in all)",
                         (("allow_empty", True),), "to measure the classes that have samples")
    if present.sum() < 2:
        raise LabelError(where, f"need samples of at least 2 classes; found {int(present.sum())}")
    return present


def _check_classifier(W, b, K: int, d: int, where: str):
    if W is None:
        if b is not None:
            raise ParameterError("b", "given without W", "given with W", where)
        return None, None
    W = jnp.asarray(np.asarray(W), jnp.float64)
    if W.shape != (K, d):
        raise ParameterError("W", f"shape {tuple(W.shape)}", f"shape (num_classes, dim) = ({K}, {d})", where)
    b = jnp.zeros(K, jnp.float64) if b is None else jnp.asarray(np.asarray(b), jnp.float64)
    if b.shape != (K,):
        raise ParameterError("b", f"shape {tuple(b.shape)}", f"shape (num_classes,) = ({K},)", where)
    if not (bool(jnp.all(jnp.isfinite(W))) and bool(jnp.all(jnp.isfinite(b)))):
        raise ParameterError("W", "non-finite entries", "finite", where)
    return W, b

def _bucket(m: int) -> int:
    """Rows of a chunk of m ≤ CHUNK rows after padding: a power of two ≥ 256, so that every chunk shape is one of
    a few compiled programs; padded rows carry weight 0."""
    return max(256, 1 << (max(m, 1) - 1).bit_length())


def _chunks(H, y):
    """(H, y, w) on the device, CHUNK rows at a time (a short array padded to `_bucket`, the tail of a long one to
    CHUNK): only one chunk's copy of the data exists at once, and every N uses the same few programs."""
    y = np.asarray(y, np.int32)
    for lo in range(0, H.shape[0], CHUNK):
        h, yy = H[lo:lo + CHUNK], y[lo:lo + CHUNK]
        m = h.shape[0]
        rows = CHUNK if H.shape[0] > CHUNK else _bucket(m)  # the tail of a long array reuses the chunk program
        w = np.zeros(rows, np.float32)
        w[:m] = 1.0
        if rows > m:  # pad on the host (numpy input) or the device (JAX input): no extra compiled program
            xp = np if isinstance(h, np.ndarray) else jnp
            h = xp.concatenate([h, xp.zeros((rows - m, h.shape[1]), h.dtype)])
            yy = np.concatenate([yy, np.zeros(rows - m, np.int32)])
        yield jnp.asarray(h), jnp.asarray(yy), jnp.asarray(w)


def available_bytes() -> int | None:
    """Memory the process can still get (Linux MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a SLURM task's or a container's share, not the machine's
    count), at least 1: the default number of threads of `ufm.prepare` and `ufm.theory.verify`."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def check_classes(y: np.ndarray, K: int, dim: int, inferred: bool, allow_empty: bool, where: str) -> None:
    """Before anything of size K is allocated: every class has samples (unless `allow_empty`), and the K×d
    statistics fit in the memory available. Where K was inferred from the labels (the largest + 1), a label far
    above the others — one stray 10⁸ among 0…9 — is named rather than taken for 10⁸ + 1 classes."""
    distinct = np.unique(y)
    if distinct.size < 2:
        raise LabelError(where, f"need samples of at least 2 classes; found {distinct.size}")
    if distinct.size < K and not allow_empty:
        if inferred and distinct.size > 1 and distinct[-1] > distinct[-2] + 1:  # the top label jumps a gap
            i = int(np.argmax(y))
            raise LabelError(where, f"the largest label, {int(y[i])} (sample {i}), makes K = {K} classes, "
                                    f"{K - distinct.size} of them without samples: a label out of place?")
        gap = np.flatnonzero(distinct != np.arange(distinct.size))
        first = int(gap[0]) if gap.size else int(distinct.size)
        raise LabelError(where, f"class {first} has no samples ({K - distinct.size} empty in all)",
                         (("allow_empty", True),), "to measure the classes that have samples")
    need, have = 8 * K * (3 * dim + 8), available_bytes()  # means, W, decisions' scores per class, counts
    if have is not None and need > have:
        raise LabelError(where, f"K = {K} classes of dimension {dim} need ~{need / 2**30:.3g} GiB of statistics, "
                                f"more than the {have / 2**30:.3g} GiB available"
                                + (" (K is the largest label + 1)" if inferred else ""))


__all__ = ["LabelError", "CHUNK", "LAYOUTS", "available_bytes", "check_classes"]
