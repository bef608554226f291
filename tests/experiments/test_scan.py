"""Grid scans: expansion, bad specs, the resumable store (kill + resume, concurrent writers), sharding and
merge, export round trips, multi-device batches and phase diagrams."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

import ufm
from ufm.experiments import scan
from ufm.cli import main

SPEC = textwrap.dedent("""
    [solver]
    method = "newton"
    chunk = 4

    [[group]]
    name = "mse"
    loss = "mse"
    K = 3
    n = 2
    d = 4
    lam_w = {logspace = [1e-3, 1e-1, 3]}
    lam_h = 1e-2
    lam_b = [0.01, 1.0]
    seeds = 2

    [[group]]
    name = "ls"
    loss = "ls"
    K = 3
    n = 2
    d = 4
    lam_w = 1e-3
    lam_h = 1e-3
    delta = {linspace = [0.0, 0.4, 3]}
""")
TOTAL = 3 * 2 * 2 + 3


def test_example_spec_parses_and_store_folder_is_created(tmp_path):
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    spec = scan.parse(open(os.path.join(here, "experiments", "scan", "example.toml")).read())
    assert len(spec.jobs()) == 2 * 9 * 9 + 10 * 2
    small = SPEC.replace("seeds = 2", "seeds = 1")
    (tmp_path / "spec.toml").write_text(small)
    store = tmp_path / "new" / "dir" / "s.db"
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", str(store), "--quiet"]) == 0
    assert store.exists()
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", str(tmp_path), "--quiet"]) == 2  # a folder


def test_grid_expansion():
    assert scan.grid_values(0.5, "x") == (0.5,)
    assert scan.grid_values([1, 2], "x") == (1, 2)
    np.testing.assert_allclose(scan.grid_values({"linspace": [0.0, 1.0, 5]}, "x"), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(scan.grid_values({"logspace": [1e-4, 1e-1, 4]}, "x"), [1e-4, 1e-3, 1e-2, 1e-1])
    spec = scan.parse(SPEC)
    jobs = spec.jobs()
    assert len(jobs) == TOTAL and len({(j["hash"], j["seed"]) for j in jobs}) == TOTAL
    assert {j["problem"].delta for j in jobs if j["group"] == "ls"} == {0.0, 0.2, 0.4}
    assert spec.digest == scan.parse(SPEC).digest  # deterministic


@pytest.mark.parametrize(
    "text, key",
    [
        ('[[group]]\nloss = "ce"\nlamda_w = 1', "lamda_w"),
        ('[[group]]\nloss = "ce"\nlam_w = []', "lam_w"),
        ('[[group]]\nloss = "ls"\ndelta = [0.1, 1.5]', "delta"),
        ('[[group]]\nloss = "ce"\nK = 1', "K"),
        ('[[group]]\nloss = "hinge"', "loss"),
        ('[[group]]\nloss = "ce"\nlam_w = {logspace = [0, 1, 3]}', "lam_w"),
        ('[[group]]\nloss = "ce"\nseeds = 0', "seeds"),
        ('[solver]\nchunk = 0\n[[group]]\nloss = "ce"', "solver.chunk"),
        ('[[group]]\nloss = "ce"\nK = 100\nn = 5000\nd = 4096', "memory_gb"),
        ("[[grp]]", "grp"),
        ('[[group]]\nloss = "mse"\ndepth = [1, 2.5]', "depth"),
        ('[[group]]\nloss = "mse"\ndepth = 2\nactivation = [1]', "activation"),
        ("not toml [", "TOML"),
    ],
)
def test_bad_specs_rejected_before_solving(text, key, tmp_path):
    with pytest.raises(scan.SpecError, match=key):
        scan.parse(text)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["scan", "run", str(path), "--store", str(tmp_path / "s.db")]) == 2
    assert not (tmp_path / "s.db").exists()


def _single(row):
    p = ufm.Problem(**{k: row[k] for k in ufm.Problem().to_dict()})
    return ufm.solve(p, method="newton", seed=int(row["seed"]))


def test_run_matches_single_solves_and_round_trips(tmp_path, capsys):
    store = str(tmp_path / "s.db")
    ufm.clear_caches()  # nothing compiled by earlier tests: this run's compilations are its own
    jax.clear_caches()
    summary = scan.run(scan.parse(SPEC), store, progress=False)
    assert summary["done"] == TOTAL and summary["pending"] == 0 and summary["compilations"] > 0
    cols = scan.load(store)
    assert len(cols["objective"]) == TOTAL and cols["objective"].dtype == np.float64
    for i in (0, 7, TOTAL - 1):
        row = {k: v[i] for k, v in cols.items()}
        # vmap vs single solve: same iterates up to reassociation of sums.
        sol = _single(row)
        assert row["objective"] == pytest.approx(sol.objective, rel=1e-12)
        assert row["err_objective"] < 1e-10 and row["cert_ratio"] == pytest.approx(1.0, abs=1e-6)
        # A reduced balanced row's metrics come from one column per class; they equal those of the whole lift
        # (its columns repeat each class mean exactly; sums over N round differently, hence abs 1e-12).
        assert row["path"] == "reduced" == sol.path
        m = ufm.metrics.all(sol.W, sol.H, sol.b, labels=sol.problem.labels)
        for k in ufm.metrics.KEYS:
            assert row[k] == pytest.approx(m[k], rel=1e-9, abs=1e-12), k
    # Re-running resumes: nothing left to solve, nothing compiled.
    again = scan.run(scan.parse(SPEC), store, progress=False)
    assert again["solved_now"] == 0 and again["compilations"] == 0
    first = scan.compilations(store)
    assert first["runs"] == 2 and first["compilations"] > 0 and first["compile_seconds"] > 0
    # Export round trips.
    js = json.loads(scan.export(store, "json"))
    assert len(js) == TOTAL and js[3]["objective"] == cols["objective"][3]
    csv_path = tmp_path / "s.csv"
    scan.export(store, "csv", str(csv_path))
    import csv

    with open(csv_path) as fh:
        back = list(csv.DictReader(fh))
    assert len(back) == TOTAL and float(back[5]["objective"]) == cols["objective"][5]
    # A different spec on the same store is refused.
    with pytest.raises(ValueError, match="different scan spec"):
        scan.run(scan.parse(SPEC.replace("seeds = 2", "seeds = 3")), store, progress=False)
    assert main(["scan", "status", store]) == 0
    assert f"XLA compilations: {first['compilations']} in 2 run(s)" in capsys.readouterr().out
    paths = scan.plot(store, "lam_w", "lam_b", "nc1", where={"group": "mse"}, out=str(tmp_path / "pd"))
    assert all(os.path.getsize(p) > 1000 for p in paths) and paths[0].endswith(".png") and paths[1].endswith(".pdf")
    with pytest.raises(ValueError, match=r"takes \d+ values"):
        scan.plot(store, "lam_w", "lam_h", "nc1")


def _slow(spec_text: str, chunk: int) -> str:
    """The same grid with fixed-length gradient descent (tol 0, 20000 steps), so that a run lasts long enough
    for a kill or a second writer to land in the middle of it."""
    return spec_text.replace('method = "newton"', 'method = "gd"\ntol = 0.0\nmax_steps = 20000').replace(
        "chunk = 4", f"chunk = {chunk}")


def _spawn(spec_path, store, *extra, env=None):
    code = ("import sys; from ufm.cli import main; sys.exit(main(sys.argv[1:]))")
    return subprocess.Popen([sys.executable, "-c", code, "scan", "run", str(spec_path), "--store", store, "--quiet",
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _count(store, status="done"):
    con = sqlite3.connect(store)
    try:
        return con.execute("SELECT COUNT(*) FROM jobs WHERE status=?", (status,)).fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def _started(tmp_path):
    """A slow scan in a child process, returned once it has finished at least 2 rows: (proc, spec, store)."""
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(_slow(SPEC, 2))
    store = str(tmp_path / "s.db")
    proc = _spawn(spec_path, store)
    deadline = time.time() + 120
    while _count(store) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    return proc, spec_path, store


def test_kill_and_resume(tmp_path):
    proc, spec_path, store = _started(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = _count(store)
    assert 2 <= partial < TOTAL
    # The store is intact and the re-run finishes the rest (the dead claim is released).
    assert main(["scan", "run", str(spec_path), "--store", store, "--quiet"]) == 0
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT hash, seed, status FROM jobs").fetchall()
    con.close()
    assert len(rows) == TOTAL == len(set((h, s) for h, s, _ in rows)) and all(st == "done" for *_, st in rows)
    cols = scan.load(store)
    i = int(np.argmax(cols["lam_b"]))
    row = {k: v[i] for k, v in cols.items()}
    p = ufm.Problem(**{k: row[k] for k in ufm.Problem().to_dict()})
    single = ufm.solve(p, method="gd", tol=0.0, max_steps=20000, seed=int(row["seed"]))
    assert row["objective"] == pytest.approx(single.objective, rel=1e-12)


def test_two_concurrent_writers_split_the_work(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(_slow(SPEC, 1))
    store = str(tmp_path / "s.db")
    procs = [_spawn(spec_path, store) for _ in range(2)]
    ends = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, ends):  # a failed writer shows why (its stderr), not an empty-stdout parse
        assert p.returncode == 0 and out.strip(), f"writer exited {p.returncode}: {err.strip()[-2000:]}"
    outs = [json.loads(out.strip().splitlines()[-1]) for out, _ in ends]
    solved = [o["solved_now"] for o in outs]
    assert sum(solved) == TOTAL and _count(store) == TOTAL  # every job solved exactly once
    assert min(solved) > 0


def test_shards_merge_to_the_unsharded_scan(tmp_path):
    spec = scan.parse(SPEC)
    full = str(tmp_path / "full.db")
    scan.run(spec, full, progress=False)
    shards = [str(tmp_path / f"shard{i}.db") for i in range(3)]
    for i, s in enumerate(shards):
        scan.run(spec, s, shard=(i, 3), progress=False)
    sizes = [_count(s) for s in shards]
    assert sum(sizes) == TOTAL and all(n > 0 for n in sizes)
    merged = str(tmp_path / "merged.db")
    st = scan.merge(shards, merged)
    assert sum(c["done"] for c in st.values()) == TOTAL
    # Each run's compilations are recorded once: the merge carries the three shards' records, and a repeated
    # merge does not count them again.
    per_shard = [scan.compilations(s) for s in shards]
    assert all(c["runs"] == 1 for c in per_shard) and scan.compilations(full)["runs"] == 1
    scan.merge(shards, merged)
    total = scan.compilations(merged)
    assert total["runs"] == 3 and total["compilations"] == sum(c["compilations"] for c in per_shard)
    a, b = scan.load(full), scan.load(merged)
    order_a = np.lexsort((a["seed"], a["lam_b"], a["lam_w"], a["delta"]))
    order_b = np.lexsort((b["seed"], b["lam_b"], b["lam_w"], b["delta"]))
    np.testing.assert_allclose(a["objective"][order_a], b["objective"][order_b], rtol=1e-12)
    other = str(tmp_path / "other.db")
    scan.run(scan.parse(SPEC.replace("seeds = 2", "seeds = 1")), other, progress=False)
    with pytest.raises(ValueError, match="different scan specs"):
        scan.merge([merged, other], str(tmp_path / "bad.db"))
    assert scan.shard_from_env("1/3") == (1, 3)
    with pytest.raises(ValueError, match="--shard"):
        scan.shard_from_env("3/3")


def test_cli_grid_flags_and_slurm_shard(tmp_path):
    store = str(tmp_path / "c.db")
    env = {"SLURM_ARRAY_TASK_ID": "1", "SLURM_ARRAY_TASK_COUNT": "2"}
    code = "import sys; from ufm.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["scan", "run", "--store", store, "--quiet", "--loss", "ls", "--K", "3", "--n", "2", "--d", "4",
            "--lam-w", "1e-3:1e-1:3:log", "--lam-h", "1e-3", "--delta", "0,0.1", "--seeds", "2", "--method", "newton"]
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       env={**os.environ, **env}, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["done"] == 6  # the odd-indexed half of 3·2·2 jobs
    cols = scan.load(store)
    assert sorted(set(cols["delta"])) == [0.0, 0.1] and np.allclose(sorted(set(cols["lam_w"])), [1e-3, 1e-2, 1e-1])
    assert main(["scan", "run", "--store", store, "--loss", "ls", "--lam-w", "1:2:x"]) == 2


def test_batch_split_across_two_local_devices(tmp_path):
    # Two host devices stand in for several accelerators: the batch is sharded with jax.sharding.
    code = textwrap.dedent(f"""
        import json, jax, ufm
        from ufm.experiments import scan
        assert jax.local_device_count() == 2
        spec = scan.parse(open({str(tmp_path / 'spec.toml')!r}).read())
        print(json.dumps(scan.run(spec, {str(tmp_path / 'dev.db')!r}, progress=False)))
    """)
    (tmp_path / "spec.toml").write_text(SPEC)
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["done"] == TOTAL
    single = str(tmp_path / "one.db")
    scan.run(scan.parse(SPEC), single, progress=False)
    a, b = scan.load(single), scan.load(str(tmp_path / "dev.db"))
    np.testing.assert_allclose(np.sort(a["objective"]), np.sort(b["objective"]), rtol=1e-12)


def test_a_deep_scan_has_depth_and_activation_axes(tmp_path):
    """depth and activation are grid axes; deep rows carry the last layer's metrics and, for deep linear MSE,
    the closed form (theory.deep_linear_mse) as the prediction; one-layer rows keep their 0.3 columns (depth
    empty)."""
    spec = scan.parse('[solver]\nmethod = "newton"\n[[group]]\nname = "deep"\nloss = "mse"\nbias = false\n'
                      'K = 3\nn = 2\nd = 4\ndepth = [1, 2, 3]\nactivation = ["linear", "relu"]\n'
                      'lam_w = 2e-3\nlam_h = 1e-3\n')
    store = str(tmp_path / "deep.db")
    summary = scan.run(spec, store, progress=False)
    # depth 1 with "relu" is the one-layer problem again (no layer for σ): one job, not two
    assert summary["done"] == 5 and summary["failed"] == 0
    rows = json.loads(scan.export(store, "json"))
    linear = [r for r in rows if r.get("activation") in (None, "linear")]
    assert len(linear) == 3
    for r in linear:
        assert r["err_objective"] < 1e-10, r
    relu = [r for r in rows if r.get("activation") == "relu"]
    assert {r["depth"] for r in relu} == {2, 3} and all(r["pred_objective"] is None for r in relu)


@pytest.mark.parametrize("kw", [dict(n=4), dict(n=(2, 3, 4))], ids=["reduced-balanced", "imbalanced"])
def test_a_short_chunk_runs_in_the_metrics_program_of_its_full_chunks(kw):
    """A scan's metrics of a chunk shorter than the chunk size are computed padded to it (copies of the last
    member, dropped after): the same numbers as unpadded (1e-12: another batch size may round differently), and
    no compilation after a full chunk of the shape."""
    from ufm.experiments.scan import _run

    ps = [ufm.Problem(K=3, d=4, lam_w=lw, **kw) for lw in (1e-3, 2e-3, 3e-3, 4e-3, 5e-3)]
    full, short = ufm.solve_batch(ps), ufm.solve_batch(ps[:2])
    _run._metrics(full, 5)
    with ufm.compilations() as c:
        padded = _run._metrics(short, 5)
    assert c.count == 0, c.by_name
    own = _run._metrics(short)
    assert set(padded) == set(own)
    for k in own:
        assert np.asarray(padded[k]).shape == (2,)
        np.testing.assert_allclose(padded[k], own[k], rtol=1e-12, atol=1e-14, err_msg=k)


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_scan_metrics_of_every_d_run_in_one_program_with_the_same_numbers(loss):
    """A reduced balanced chunk's metrics are computed in 2K feature coordinates (`feature_span`: zero
    coordinates below, an orthonormal basis of the span of W's rows and the class means above): the same
    numbers as `ufm.metrics.all` of the lifted solutions (1e-9 relative: a change of basis rounds differently;
    ranks and decision fractions exactly), and one compiled program for d = 3, 12 and 40 at K = 5."""
    from ufm.experiments.scan import _run

    K, n = 5, 4
    batches = {d: ufm.solve_batch([ufm.Problem(K=K, n=n, d=d, loss=loss, lam_w=lw, lam_h=2e-3)
                                   for lw in (1e-3, 4e-3, 2e-2)]) for d in (3, 12, 40)}
    with ufm.compilations() as c:
        got = {d: _run._metrics(b) for d, b in batches.items()}
    assert c.by_name.get("jit(_all)", [0])[0] <= 1, c.by_name
    for d, b in batches.items():
        assert b.reduced is not None
        want = ufm.metrics.all(b.W, b.H, b.b, labels=b.problem[0].labels)
        assert set(got[d]) == set(want)
        for k in want:
            np.testing.assert_allclose(got[d][k], want[k], rtol=1e-9, atol=1e-11, err_msg=f"d={d} {k}")
    rng = np.random.default_rng(0)
    W, Hbar = rng.standard_normal((2, K, 40)), rng.standard_normal((2, 40, K))
    Ws, Hs = _run.feature_span(W, Hbar)
    assert Ws.shape == (2, K, 2 * K) and Hs.shape == (2, 2 * K, K)
    np.testing.assert_allclose(Ws @ Hs, W @ Hbar, rtol=1e-12, atol=1e-12)  # logits kept
    np.testing.assert_allclose(np.linalg.norm(Ws, axis=-1), np.linalg.norm(W, axis=-1), rtol=1e-12)


def test_a_scan_over_d_solves_each_class_mean_problem_once(tmp_path):
    """Configurations that differ only in d ≥ K (same seed and settings) have one class-mean problem: the scan
    solves it once and embeds it in the other d's (`ufm.Solution.embed`), with the solved row's metrics and
    certificate (zero coordinates change neither). Every row equals what `ufm.solve` of its own configuration
    gives: objective, steps and status exactly (the same program from the same start); metrics and certificate
    ratio as computed on that solution (1e-9 / 1e-12 relative: computed in other coordinates, they round
    differently); prediction errors below 1e-10. A shared row names the d whose solve it embeds (`solved_d`) with
    seconds 0, so that summed solve times count each solve once. Nothing is dropped: every configuration is done."""
    text = textwrap.dedent("""
        [solver]
        chunk = 3

        [[group]]
        name = "ce"
        loss = "ce"
        K = 3
        n = 2
        d = [3, 5, 9]
        lam_w = [1e-3, 1e-2]
        lam_h = 1e-3
        seeds = 2
    """)
    store = str(tmp_path / "s.db")
    summary = scan.run(scan.parse(text), store, progress=False)
    assert summary["done"] == 12 and summary["failed"] == 0
    rows = json.loads(scan.export(store, "json"))
    solved = {(r["lam_w"], r["seed"]): r for r in rows if r["solved_d"] == r["d"]}
    assert len(solved) == 4 and {r["d"] for r in solved.values()} == {3}  # the grid's first d is solved
    for r in rows:
        p = ufm.Problem(loss="ce", K=3, n=2, d=r["d"], lam_w=r["lam_w"], lam_h=1e-3)
        one = ufm.solve(p, seed=r["seed"])
        assert (r["objective"], r["steps"], r["solver_status"]) == (one.objective, one.steps, one.status)
        assert r["path"] == "reduced" and r["err_objective"] < 1e-10
        m = ufm.metrics.all(one.W, one.H, one.b, labels=p.labels)
        for k in ufm.metrics.KEYS:
            assert r[k] == pytest.approx(m[k], rel=1e-9, abs=1e-12), k
        assert r["cert_ratio"] == pytest.approx(ufm.theory.certificate_of(one).ratio, rel=1e-12)
        if r["d"] != 3:
            assert r["seconds"] == 0.0 and r["solved_d"] == 3 and solved[(r["lam_w"], r["seed"])]["seconds"] > 0


def test_a_new_shape_compiles_its_programs_ahead_and_its_chunk_compiles_nothing_more():
    """`prepare_shape` compiles a shape's solve, second-order and metrics programs before its first chunk (the
    metrics one on a second thread while the others compile): the chunk then compiles no program of its own
    (the certificate's and prediction's small programs aside, which it does not plan). JAX's persistent cache is
    switched off here (an earlier test may have turned it on): every program is compiled, none read back."""
    from ufm.experiments.scan import _run

    was = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        ufm.clear_caches()
        jax.clear_caches()
        p = ufm.Problem(K=4, n=3, d=9, lam_w=1e-3, lam_h=2e-3)
        items = [(f"h{i}", 0, p.replace(lam_w=lw), "auto", None, None) for i, lw in enumerate((1e-3, 2e-3, 3e-3))]
        with ufm.compilations() as ahead:
            _run.prepare_shape(p, "auto", None, None, 4)
        planned = {"jit(ufm_solve)", "jit(ufm_curvature)", "jit(_all)"}
        assert planned <= set(ahead.by_name) and ahead.loaded == 0, ahead.by_name
        with ufm.compilations() as chunk:
            rows = _run.solve_chunk(items, 4)
        assert [r[2] for r in rows] == ["done"] * 3
        assert not planned & set(chunk.by_name) and chunk.loaded == 0, chunk.by_name
    finally:
        jax.config.update("jax_enable_compilation_cache", was)


def test_the_shared_solves_of_a_run_are_bounded_in_bytes_oldest_first():
    """A run keeps class-mean solves to share up to `max_bytes` of their arrays: past it the oldest go, the
    newest stays, and the count of kept bytes is the sum over what is kept."""
    from ufm.experiments.scan import _run

    sols = ufm.solve_batch([ufm.Problem(K=3, n=2, d=8, lam_w=lw) for lw in (1e-3, 2e-3, 3e-3, 4e-3)])
    one = _run.Shared(max_bytes=10**9)
    one.put("k", sols[0], {}, None)
    size = one.bytes
    assert size >= sols[0].W.nbytes + sols[0].class_means.nbytes
    shared = _run.Shared(max_bytes=2 * size + size // 2)
    for i in range(4):
        shared.put(i, sols[i], {"i": i}, None)
    assert list(shared.entries) == [2, 3] and shared.bytes == sum(e[3] for e in shared.entries.values())
    assert shared.get(0) is None and shared.get(3)[1] == {"i": 3}
    tiny = _run.Shared(max_bytes=1)
    tiny.put("a", sols[0], {}, None)
    assert tiny.get("a") is not None  # the newest is always kept: a chunk's own items still share it
