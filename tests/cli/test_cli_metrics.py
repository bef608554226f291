"""`ufm metrics FILE`: .npz and .npy inputs, the table and --json, and one-line errors (exit 2) for bad files."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import ufm
from ufm.cli import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    X = (np.eye(4, 6)[y] * 3 + 0.2 * rng.standard_normal((200, 6))).astype(np.float32)
    W, b = np.eye(4, 6) + 0.1, 0.1 * np.arange(4)
    np.savez(tmp_path / "f.npz", features=X, labels=y, W=W, b=b)
    np.savez(tmp_path / "h.npz", H=X.T, y=y)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "yf.npy", y.astype(float))
    (tmp_path / "junk.npz").write_text("not an archive")
    return tmp_path, X, y, W, b


def test_npz_json_equals_the_python_call(files, capsys):
    d, X, y, W, b = files
    assert main(["metrics", str(d / "f.npz"), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == ufm.jsonable(ufm.metrics.collapse(X, y, W, b).to_dict())


def test_npy_pair_table_and_named_arrays(files, capsys):
    d, X, y, W, b = files
    assert main(["metrics", str(d / "X.npy"), "--labels-file", str(d / "y.npy")]) == 0
    out = capsys.readouterr().out
    assert "200 samples, 4 classes (K from the largest label + 1" in out and "dimension 6" in out
    assert "nc1" in out and "n/a" in out  # no W: nc3 n/a
    assert main(["metrics", str(d / "h.npz"), "--layout", "d,N", "--json"]) == 0  # H/y found by their names
    assert json.loads(capsys.readouterr().out)["nc1"] == pytest.approx(ufm.metrics.collapse(X, y).nc1, rel=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["nope.npz"], "no such file"),
    (["X.npy"], "give --labels-file"),
    (["junk.npz"], "not a .npz archive"),
    (["h.npz"], "200 labels for 6 samples"),  # H is (d, N): without --layout d,N the lengths disagree
    (["X.npy", "--labels-file", "yf.npy"], "labels must be integers; got dtype float64"),
    (["f.npz", "--num-classes", "3"], r"labels must lie in \[0, 3\)"),
    (["f.npz", "--global-mean", "x"], "--global-mean must be"),
    (["f.npz", "--W", "zz"], "no such array"),
    (["f.npz", "--layout", "dN"], "--layout must be"),
])
def test_bad_inputs_exit_2_with_one_line(files, capsys, argv, message):
    d = files[0]
    argv = [str(d / argv[0])] + [str(d / a) if a.endswith(".npy") else a for a in argv[1:]]
    assert main(["metrics", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert re.search(message, err), err


def test_errors_speak_the_command_line_and_say_where_k_came_from(files, capsys, tmp_path):
    """The library's fixes are spelled as flags (--allow-empty, --num-classes), never as Python keywords, and a
    fix already taken is not suggested again; without --num-classes and W, the header says that K came from the
    largest label (a top class with no samples would not be counted)."""
    d, X, y, W, b = files
    np.savez(tmp_path / "gap.npz", features=X, labels=np.where(y == 1, 2, y))  # class 1 empty
    assert main(["metrics", str(tmp_path / "gap.npz")]) == 2
    err = capsys.readouterr().err
    assert "--allow-empty" in err and "allow_empty" not in err and len(err.strip().splitlines()) == 1
    assert main(["metrics", str(d / "f.npz"), "--num-classes", "3"]) == 2
    err = capsys.readouterr().err
    assert "num_classes" not in err and "--num-classes" not in err  # the flag was given: no advice to give it
    np.savez(tmp_path / "high.npz", features=X, labels=y)
    assert main(["metrics", str(tmp_path / "high.npz"), "--num-classes", "2"]) == 2
    assert main(["metrics", str(tmp_path / "high.npz")]) == 0
    assert "K from the largest label + 1" in capsys.readouterr().out
    assert main(["metrics", str(d / "f.npz")]) == 0
    assert "K from the rows of W" in capsys.readouterr().out
    top = np.where(y == 3, 0, y)  # the top class has no samples: with W, K = 4 and the empty class is refused
    np.savez(tmp_path / "top.npz", features=X, labels=top, W=W, b=b)
    assert main(["metrics", str(tmp_path / "top.npz")]) == 2
    assert "class 3 has no samples" in capsys.readouterr().err


def test_accumulator_errors_name_the_public_call():
    acc = ufm.metrics.Accumulator(num_classes=2, dim=3).update(np.eye(2, 3), np.array([0, 1]))
    with pytest.raises(ufm.ParameterError, match=r"Accumulator\.result\.global_mean"):
        acc.result(global_mean="x")
    with pytest.raises(ufm.ParameterError, match=r"^collapse\.global_mean"):
        ufm.metrics.collapse(np.eye(2, 3), np.array([0, 1]), global_mean="x")
