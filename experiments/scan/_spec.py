"""Scan specifications: TOML groups of parameter grids, validated and expanded before any solve."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import tomllib

import numpy as np

import ufm
from ufm import Problem

GRID_KEYS = Problem.GRID_FIELDS
INT_KEYS = ("K", "n", "d", "depth")
IMBALANCE_KEYS = ("imbalance", "profile", "minority")  # counts from n (the largest class) by ufm.class_counts
GROUP_KEYS = ("name", "loss", "fixed_w", "dtype", "seeds", "method", "tol", "max_steps") + GRID_KEYS + IMBALANCE_KEYS
SOLVER_KEYS = ("method", "tol", "max_steps", "chunk", "memory_gb")
MAX_CONFIGS = 2_000_000
MAX_STEPS = 2**31 - 2  # the solvers count steps in int32


def _integer(v) -> bool:
    """An integer that is not a bool (TOML true/false are not numbers here)."""
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def example_spec(name: str = "example.toml") -> str:
    """A file that ships with ufm: the example spec (`ufm scan example > spec.toml`) or, with
    name="array.sbatch", a ready-to-edit SLURM array script (`ufm scan example --sbatch > array.sbatch`)."""
    from importlib.resources import files

    return files(__package__).joinpath(name).read_text(encoding="utf-8")


class SpecError(ufm.UFMError, ValueError):
    """A scan specification that cannot run; the message names the key and the reason."""


@dataclasses.dataclass(frozen=True)
class Group:
    """One group of a scan: a loss, grids for every parameter, a number of seeds and solver options."""

    name: str
    base: dict  # scalar Problem fields (loss, fixed_w, dtype) and, with an imbalance axis, profile and minority
    grids: dict  # key → tuple of values (the imbalance ratio R is a grid too)
    seeds: int
    method: str
    tol: float | None
    max_steps: int | None

    def configs(self) -> list[ufm.Problem]:
        keys = list(self.grids)
        out = []
        for values in itertools.product(*(self.grids[k] for k in keys)):
            fields = dict(self.base, **dict(zip(keys, values)))
            profile, minority = fields.pop("profile", "step"), fields.pop("minority", None)
            if "imbalance" in fields:
                R = fields.pop("imbalance")
                fields["n"] = ufm.class_counts(fields.get("K", 10), fields.get("n", 50), R, profile, minority)
            out.append(ufm.Problem(**fields))
        return out


@dataclasses.dataclass(frozen=True)
class Spec:
    """A validated scan: groups plus solver defaults. `canonical` is its identity (merge refuses others)."""

    groups: tuple
    solver: dict

    @property
    def canonical(self) -> str:
        return json.dumps({"groups": [dataclasses.asdict(g) for g in self.groups], "solver": self.solver},
                          sort_keys=True, default=list)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.canonical.encode()).hexdigest()[:16]

    def jobs(self) -> list[dict]:
        """Every (group, problem, seed, config hash) of the scan, in a deterministic order."""
        out = []
        for g in self.groups:
            for p in g.configs():
                h = config_hash(p, g)
                for s in range(g.seeds):
                    out.append({"group": g.name, "problem": p, "seed": s, "hash": h, "method": g.method,
                                "tol": g.tol, "max_steps": g.max_steps})
        return out


def config_hash(p: ufm.Problem, g: Group) -> str:
    """Identity of a configuration: every Problem field and the solver options, canonically serialised."""
    key = json.dumps({"problem": p.to_dict(), "method": g.method, "tol": g.tol, "max_steps": g.max_steps},
                     sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _fail(where: str, why: str):
    raise SpecError(f"{where}: {why}")


def grid_values(value, where: str) -> tuple:
    """A grid: a number (or bool/str), a list, {linspace = [start, stop, m]} or {logspace = [start, stop, m]}
    (start and stop are the values themselves, not exponents)."""
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("linspace", "logspace"):
            _fail(where, f"a table grid must be {{linspace = [start, stop, m]}} or {{logspace = [...]}}; got {value}")
        kind, args = next(iter(value.items()))
        if not (isinstance(args, list) and len(args) == 3 and all(_number(a) for a in args) and _integer(args[2])):
            _fail(where, f"{kind} needs [start, stop, m] with finite numbers and an integer m; got {args}")
        start, stop, m = args
        if not 1 <= m <= MAX_CONFIGS:  # checked before any array of m values exists
            _fail(where, f"{kind} needs 1 ≤ m ≤ {MAX_CONFIGS}; got {m}")
        if kind == "logspace":
            if start <= 0 or stop <= 0:
                _fail(where, f"logspace needs start, stop > 0; got {start}, {stop}")
            vals = np.geomspace(start, stop, m)
        else:
            vals = np.linspace(start, stop, m)
        return tuple(float(v) for v in vals)
    if isinstance(value, list):
        if not value:
            _fail(where, "empty grid")
        if any(isinstance(v, (list, dict)) for v in value):
            _fail(where, f"a list grid holds plain values; got nested {value!r:.80}")
        return tuple(value)
    return (value,)


def _group(raw: dict, index: int, solver: dict) -> Group:
    if not isinstance(raw, dict):
        _fail(f"group {index + 1}", f"must be a table ([[group]]); got {type(raw).__name__}")
    where = f"group {index + 1}" + (f" ({raw['name']!r})" if isinstance(raw.get("name"), str) else "")
    for key in raw:
        if key not in GROUP_KEYS:
            _fail(f"{where}.{key}", f"unknown key (allowed: {', '.join(GROUP_KEYS)})")
    if "loss" not in raw:
        _fail(f"{where}.loss", "missing (one of ce, ls, fl, mse)")
    base = {k: raw[k] for k in ("loss", "fixed_w", "dtype") if k in raw}
    if base.get("fixed_w") == "none":
        base["fixed_w"] = None
    if ("profile" in raw or "minority" in raw) and "imbalance" not in raw:
        _fail(f"{where}.profile", "profile and minority go with an imbalance axis (imbalance = [R, ...])")
    for key in ("profile", "minority"):  # checked by ufm.class_counts when the configurations are built
        if key in raw:
            if isinstance(raw[key], (list, dict)):
                _fail(f"{where}.{key}", f"is one value for the group, not a grid; got {raw[key]!r:.80}")
            base[key] = raw[key]
    if "imbalance" in raw:
        if "n" in raw and not all(_integer(v) for v in grid_values(raw["n"], f"{where}.n")):
            _fail(f"{where}.n", "with an imbalance axis n is the largest class's count: integers")
        vals = grid_values(raw["imbalance"], f"{where}.imbalance")
        if not all(_number(v) and v >= 1 for v in vals):
            _fail(f"{where}.imbalance", f"needs ratios R = n_max/n_min ≥ 1; got {list(vals)}")
    grids = {}
    for key in GRID_KEYS + ("imbalance",):
        if key in raw:
            vals = grid_values(raw[key], f"{where}.{key}")
            if key in INT_KEYS:
                if not all(isinstance(v, int) and not isinstance(v, bool) for v in vals):
                    _fail(f"{where}.{key}", f"needs integers; got {list(vals)}")
            elif key == "bias":
                if not all(isinstance(v, bool) for v in vals):
                    _fail(f"{where}.{key}", f"needs true/false; got {list(vals)}")
            elif key == "activation":
                if not all(isinstance(v, str) for v in vals):
                    _fail(f"{where}.{key}", f"needs names such as \"linear\" or \"relu\"; got {list(vals)}")
            elif not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals):
                _fail(f"{where}.{key}", f"needs finite numbers; got {list(vals)}")
            grids[key] = tuple(float(v) if key not in INT_KEYS + ("bias", "activation") else v for v in vals)
    seeds = raw.get("seeds", 1)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        _fail(f"{where}.seeds", f"needs an integer ≥ 1; got {seeds!r}")
    method = raw.get("method", solver.get("method", "auto"))
    if method not in ufm.METHODS:
        _fail(f"{where}.method", f"must be one of {', '.join(ufm.METHODS)}; got {method!r}")
    tol = raw.get("tol", solver.get("tol"))
    if tol is not None and not (_number(tol) and 0 <= tol < 1):
        _fail(f"{where}.tol", f"must be in [0, 1); got {tol!r}")
    max_steps = raw.get("max_steps", solver.get("max_steps"))
    if max_steps is not None and not (_integer(max_steps) and 1 <= max_steps <= MAX_STEPS):
        _fail(f"{where}.max_steps", f"must be an integer in [1, {MAX_STEPS}]; got {max_steps!r}")
    name = raw.get("name", f"group{index + 1}")
    if not isinstance(name, str) or not name:
        _fail(f"{where}.name", f"must be a non-empty string; got {name!r}")
    group = Group(name, base, grids, seeds, method, None if tol is None else float(tol), max_steps)
    n = math.prod(len(v) for v in grids.values())
    if n * seeds > MAX_CONFIGS:
        _fail(where, f"{n * seeds} jobs exceed the limit of {MAX_CONFIGS}")
    # Validate every configuration now (Problem names the bad field), before any solve.
    try:
        group.configs()
    except ufm.ParameterError as e:
        param = {"n_max": "n", "ratio": "imbalance"}.get(e.param, e.param)
        _fail(f"{where}.{param}", str(e))
    return group


def check_memory(spec: Spec, memory_gb: float) -> None:
    """Reject a group whose largest solve (`ufm.estimate_bytes`, over every configuration) cannot fit in
    `memory_gb`. Scans solve with reduce="auto" (the exact class-mean problem where it applies)."""
    for g in spec.groups:
        p = max(g.configs(), key=bytes_per_solve)
        need = bytes_per_solve(p)
        if need > memory_gb * 2**30:
            _fail(f"group {g.name!r}", f"one solve of K={p.K} n={p.n} d={p.d} needs ~{need / 2**30:.1f} GiB, "
                                       f"more than memory_gb = {memory_gb:g}")


def bytes_per_solve(p) -> int:
    """Memory of one solve of a scan (`ufm.estimate_bytes` with the scan's reduce="auto")."""
    return ufm.estimate_bytes(p, reduce="auto")


MAX_SPEC_BYTES = 10 * 2**20


def parse_toml(text) -> dict:
    """TOML text (str, or bytes that must be UTF-8) → dict; anything unreadable → SpecError."""
    if isinstance(text, bytes):
        if len(text) > MAX_SPEC_BYTES:
            raise SpecError(f"spec: larger than {MAX_SPEC_BYTES // 2**20} MiB; not a scan spec")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError(f"spec: not UTF-8 text (byte {e.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"spec: not valid TOML ({e})") from None
    except RecursionError:
        raise SpecError("spec: nested too deeply to be a scan spec") from None


def read_spec(path: str) -> dict:
    """The TOML document at `path` (a regular file of at most 10 MiB, UTF-8) as a dict; else SpecError."""
    import os

    if not os.path.exists(path):
        raise SpecError(f"spec: no such file {path!r}")
    if not os.path.isfile(path):
        raise SpecError(f"spec: {path!r} is not a regular file")
    if os.path.getsize(path) > MAX_SPEC_BYTES:
        raise SpecError(f"spec: {path!r} is larger than {MAX_SPEC_BYTES // 2**20} MiB; not a scan spec")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as e:
        raise SpecError(f"spec: cannot read {path!r} ({e.strerror})") from None
    return parse_toml(data)


def parse(text: str) -> Spec:
    """Parse and validate a TOML scan specification."""
    return from_dict(parse_toml(text))


def from_dict(raw: dict) -> Spec:
    """Validate a parsed spec (every configuration is built as a `ufm.Problem`) → Spec; else SpecError."""
    if not isinstance(raw, dict):
        _fail("spec", f"must be a TOML document (a table); got {type(raw).__name__}")
    for key in raw:
        if key not in ("solver", "group"):
            _fail(key, "unknown top-level key (allowed: solver, group)")
    solver = raw.get("solver", {})
    if not isinstance(solver, dict):
        _fail("solver", "must be a table")
    for key in solver:
        if key not in SOLVER_KEYS:
            _fail(f"solver.{key}", f"unknown key (allowed: {', '.join(SOLVER_KEYS)})")
    groups = raw.get("group")
    if not isinstance(groups, list) or not groups:
        _fail("group", "at least one [[group]] is needed")
    built = tuple(_group(g, i, solver) for i, g in enumerate(groups))
    names = [g.name for g in built]
    if len(set(names)) != len(names):
        _fail("group.name", f"names must be unique; got {names}")
    chunk = solver.get("chunk", 64)
    if not _integer(chunk) or not 1 <= chunk <= 100_000:
        _fail("solver.chunk", f"must be an integer in [1, 100000]; got {chunk!r}")
    memory_gb = solver.get("memory_gb", 4.0)
    if not _number(memory_gb) or memory_gb <= 0:
        _fail("solver.memory_gb", f"must be a number > 0; got {memory_gb!r}")
    spec = Spec(built, {"chunk": chunk, "memory_gb": float(memory_gb)})
    check_memory(spec, float(memory_gb))
    return spec
