"""`ufm metrics`: neural-collapse metrics of features saved by your own code (.npz, .npy, .pt)."""

from __future__ import annotations

import os
import zipfile

from ._common import UsageError, flag_of, number

HELP = "neural-collapse metrics (NC1–NC4, CDNV, ...) of saved features, labels and classifier"
EXAMPLE = """example:
  ufm metrics features.npz                                # arrays 'features', 'labels' (and 'W', 'b' if saved)
  ufm metrics feats.npy --labels-file labels.npy --W-file W.npy --json
  ufm metrics run.npz --features H --labels y --layout d,N --global-mean classes

In Python: np.savez('features.npz', features=H, labels=y, W=W, b=b) writes such a file."""
NAMES = {"features": ("features", "H", "X"), "labels": ("labels", "y", "targets"), "W": ("W",), "b": ("b",)}


def add_parser(sub) -> None:
    p = sub.add_parser("metrics", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    p.add_argument("file", help=".npz with named arrays, a .npy of features, or a .pt dict of tensors (needs torch)")
    g = p.add_argument_group("array names inside FILE (default: the first of the names listed that exists)")
    g.add_argument("--features", default=None, help="features array (features | H | X)")
    g.add_argument("--labels", default=None, help="labels array (labels | y | targets)")
    g.add_argument("--W", default=None, help="classifier weights (K, d) (W)")
    g.add_argument("--b", default=None, help="classifier bias (K,) (b)")
    f = p.add_argument_group("separate .npy files (with a .npy FILE of features)")
    f.add_argument("--labels-file", default=None)
    f.add_argument("--W-file", default=None)
    f.add_argument("--b-file", default=None)
    m = p.add_argument_group("measurement")
    m.add_argument("--layout", default="N,d", help="N,d (rows are samples, default) | d,N (columns are samples)")
    m.add_argument("--num-classes", type=number(int), default=None, help="K (default: largest label + 1)")
    m.add_argument("--global-mean", default="samples", help="samples (default) | classes")
    m.add_argument("--allow-empty", action="store_true", help="measure the classes that have samples")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=run)


def _load_npy(path: str, flag: str):
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{flag}: no such file {path!r}") from None
    except (OSError, ValueError, EOFError) as e:
        raise UsageError(f"{flag}: {path!r} is not a readable .npy array ({str(e).splitlines()[0]})") from None


def _arrays(args) -> dict:
    """{features, labels, W, b} (W, b may be None) from the file(s) named on the command line."""
    import numpy as np

    path = args.file
    if not os.path.exists(path):
        raise UsageError(f"no such file {path!r}")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a directory; give a .npz, .npy or .pt file")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        if args.labels_file is None:
            raise UsageError("a .npy FILE holds the features only: give --labels-file LABELS.npy")
        return {"features": _load_npy(path, "FILE"), "labels": _load_npy(args.labels_file, "--labels-file"),
                "W": None if args.W_file is None else _load_npy(args.W_file, "--W-file"),
                "b": None if args.b_file is None else _load_npy(args.b_file, "--b-file")}
    if ext == ".pt":
        try:
            import torch
        except ImportError:
            raise UsageError(".pt files need torch (pip install 'ufm[bench]' or any torch); or save a .npz") from None
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a bad file
            raise UsageError(f"{path!r} is not a readable torch file ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise UsageError(f"{path!r} must hold a dict of tensors; got {type(data).__name__}")
        data = {k: v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v) for k, v in data.items()}
    elif ext == ".npz":
        if not zipfile.is_zipfile(path):
            raise UsageError(f"{path!r} is not a .npz archive (not a zip file; np.savez writes one)")
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise UsageError(f"{path!r} is not a readable .npz archive ({str(e).splitlines()[0]})") from None
    else:
        raise UsageError(f"{path!r}: expected a .npz, .npy or .pt file")
    out = {}
    for role, names in NAMES.items():
        chosen = getattr(args, role)
        if chosen is not None:
            if chosen not in data:
                raise UsageError(f"--{role} {chosen!r}: no such array in {path} (it has: {', '.join(sorted(data))})")
            out[role] = data[chosen]
            continue
        found = next((n for n in names if n in data), None)
        if found is None and role in ("features", "labels"):
            raise UsageError(f"{path} has no {role} array (looked for {', '.join(names)}; it has: "
                             f"{', '.join(sorted(data)) or 'nothing'}); name it with --{role}")
        out[role] = None if found is None else data[found]
    return out


FROM = {"num_classes": "--num-classes", "W": "the rows of W",
        "labels": "the largest label + 1: a top class with no samples is not counted; --num-classes K sets K"}


def table(rec: dict) -> str:
    rows = {k: v for k, v in rec.items() if k not in ("classes_from", "note")}
    width = max(len(k) for k in rows)
    lines = [f"  {k:<{width}}  {'n/a' if v is None else format(v, '.6g')}" for k, v in rows.items()]
    return "\n".join(lines + ([f"  note: {rec['note']}"] if rec.get("note") else []))


def run(args) -> int:
    a = _arrays(args)
    import ufm

    try:
        rec = ufm.metrics.collapse(a["features"], a["labels"], a["W"], a["b"], num_classes=args.num_classes,
                                   layout=args.layout, global_mean=args.global_mean, allow_empty=args.allow_empty)
    except ufm.ParameterError as e:
        raise UsageError(f"{flag_of(e.param)} must be {e.allowed}; got {e.value!r}") from None
    except ufm.metrics.LabelError as e:  # the library's fixes spelled as this command's flags
        fixes = " or ".join(flag_of(name) + ("" if value is True else f" {value}") for name, value in e.fixes)
        raise UsageError(f"{e.problem}" + (f"; {fixes}" if fixes else "") + (f" {e.purpose}" if fixes and e.purpose
                                                                                else "")) from None
    out = rec.to_dict()
    print(ufm.dumps(out) if args.json else f"{args.file}: {out['num_samples']} samples, {out['num_classes']} "
          f"classes (K from {FROM[out['classes_from']]}), dimension "
          f"{a['features'].shape[1 if args.layout == 'N,d' else 0]}\n" + table(out))
    return 0
