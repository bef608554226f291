"""Grid scans of UFM problems: TOML specs, batched compiled solves, a resumable SQLite store, sharding,
merging and phase diagrams."""

from ._io import compilations, export, load, merge, rows, status
from ._plot import plot
from ._run import Progress, run, shard_from_env
from ._store import APPLICATION_ID, StoreError, check_path as check_store
from ._spec import (
    GRID_KEYS, Group, Spec, SpecError, example_spec, from_dict, grid_values, parse, parse_toml, read_spec,
)

__all__ = [
    "GRID_KEYS", "example_spec", "read_spec", "Spec", "Group", "SpecError", "parse", "parse_toml", "from_dict", "grid_values", "run", "shard_from_env", "Progress",
    "status", "compilations", "load", "rows", "export", "merge", "plot", "StoreError", "check_store", "APPLICATION_ID",
]
