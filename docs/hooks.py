"""MkDocs hooks of the documentation site: the parts of pages that the package itself knows are generated from
it at build time, never copied into the Markdown — so a page cannot fall behind the code.

A page asks for a generated block with an HTML comment on a line of its own, ``<!-- ufm:NAME -->``:

    statuses     `ufm.Status`: code, value and message of each status
    losses       `ufm.losses.LOSSES`: one row per loss record
    metrics      `ufm.metrics.VOCABULARY`: one row per NC quantity (key, formula, source, aliases)
    ledger       `ufm.theory.ledger_markdown()`: the claims ledger
    claims       `ufm.theory.CLAIMS`: the claims of `ufm verify`, with tolerance and source
    gallery      every figure of `ufm figures`, from the NAME.json files of a figures folder
    performance  the measured tables of `ufm bench`, from the report in docs/data/bench.json ($UFM_DOCS_BENCH)

An unknown name fails the build. The gallery reads the figures folder named by $UFM_DOCS_FIGURES (default
build/docs-figures, which `make docs` fills with `ufm figures --quick` first) and copies its PNG files into the
site; a missing folder fails the build.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(os.environ.get("UFM_DOCS_BENCH", ROOT / "docs" / "data" / "bench.json"))
_MARK = re.compile(r"^<!-- ufm:([a-z]+) -->$", re.M)


def _figures_dir() -> Path:
    return Path(os.environ.get("UFM_DOCS_FIGURES", ROOT / "build" / "docs-figures"))


def _plain(text: str) -> str:
    """Text of the package (formulas with ‖Z‖_*, λ_W, ...) as Markdown that shows it as written: * and _ escaped
    outside `code` spans, so that no formula turns into emphasis."""
    parts = str(text).split("`")
    return "`".join(p if i % 2 else re.sub(r"([*_])", r"\\\1", p) for i, p in enumerate(parts))


def _cell(v) -> str:
    return _plain(v).replace("|", "\\|").replace("\n", " ")


def _table(head, rows) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def statuses() -> str:
    import ufm

    return _table(("status", "code", "meaning"), [(f"`\"{s.value}\"`", s.code, s.message) for s in ufm.Status])


def losses() -> str:
    import ufm

    rows = []
    for name, r in ufm.losses.LOSSES.items():
        convex = (f"where {r.convex.__doc__}" if callable(r.convex)
                  else {True: "yes", False: "no", None: "unknown"}[r.convex])
        rows.append((f"`\"{name}\"`", ", ".join(f"`{p}`" for p in r.params) or "—", convex,
                     f"`{r.program}`" if r.program else "its own", r.cite))
    return _table(("loss", "parameters", "convex in the logits", "compiled as", "source"), rows)


def metrics() -> str:
    import ufm

    rows = [(f"`{q.key}`", q.formula, q.source, ", ".join(f"`{a}`" for a in q.aliases) or "—")
            for q in ufm.metrics.VOCABULARY]
    return _table(("key", "formula", "source", "0.2 names (deprecated)"), rows)


def ledger() -> str:
    from ufm import theory

    return "\n".join(line if line.startswith("|---") else _plain(line)
                     for line in theory.ledger_markdown().splitlines()) + "\n"


def claims() -> str:
    from ufm import theory

    rows = [(f"`{c.key}`", c.name, c.source, c.tol_text) for c in theory.CLAIMS]
    return _table(("key", "claim", "source", "tolerance"), rows)


def gallery() -> str:
    from ufm.experiments import figures

    folder = _figures_dir()
    if not folder.is_dir():
        raise PluginError(f"docs: the figures folder {folder} is missing: run `make docs` (it runs "
                          f"`ufm figures --quick --out {folder}` first) or set UFM_DOCS_FIGURES")
    parts = []
    for name in figures.modules():
        meta_path = folder / f"{name}.json"
        if not meta_path.exists():
            raise PluginError(f"docs: {meta_path} is missing: `ufm figures --only {name} --quick --out {folder}`")
        meta = json.loads(meta_path.read_text())
        checks = meta.get("checks", {})
        rows = [(n, "n/a" if c["value"] is None else f"{c['value']:.3g} {c['kind']} {c['tol']:g}",
                 "pass" if c["pass"] else "**FAIL**", c["why"]) for n, c in checks.items()]
        mode = " --quick" if meta.get("quick") else ""
        parts.append(
            f"## {meta['title']} {{#{name}}}\n\n"
            f"<p class='meta'>Reproduces: {figures.caption_html(meta['reproduces'])}</p>\n\n"
            f"![{meta['title']}](gallery/{name}.png)\n\n"
            f"<p>{figures.caption_html(meta['caption'])}</p>\n\n"
            f"Regenerate alone: `ufm figures --only {name} --out figures{mode}`\n\n"
            + (_table(("check against theory", "value", "", "tolerance because"), rows) if rows else ""))
    return "\n".join(parts)


def performance() -> str:
    from ufm.experiments import benchmarks

    if not BENCH.exists():
        raise PluginError(f"docs: {BENCH} is missing: `ufm bench --json docs/data/bench.json` writes it")
    report = json.loads(BENCH.read_text())
    m = report["machine"]
    cmd = "ufm bench" + (" --quick" if report.get("quick") else "") + " --json docs/data/bench.json"
    head = (f"Measured by `{cmd}`" + (f" on {report['date']}" if report.get("date") else "")
            + f": {m['device']} ({m['backend']}, {m['cpu']}, {m['cores']} cores), jax {m['jax']}, "
            f"Python {m['python']}, ufm {report.get('version', '?')}. Compile times are cold (the bench turns the "
            f"persistent cache off).\n\n")
    return head + "```text\n" + benchmarks.table(report) + "\n```\n"


BLOCKS = {"statuses": statuses, "losses": losses, "metrics": metrics, "ledger": ledger, "claims": claims,
          "gallery": gallery, "performance": performance}


def on_startup(command, dirty):
    """Lay out build/docs-src/ufm as ufm is installed (the core, with theory/ and experiments/ inside, as
    pyproject.toml's package-dir maps them), in symlinks, for the API reference to read the sources from. At
    start-up: mkdocstrings drops search paths that do not exist when it reads its configuration."""
    src = ROOT / "build" / "docs-src" / "ufm"
    if src.exists():
        shutil.rmtree(src)
    for origin, target in ((ROOT / "ufm", src), (ROOT / "theory", src / "theory"),
                           (ROOT / "experiments", src / "experiments")):
        for path in origin.rglob("*.py"):  # real folders (the loader skips linked ones), linked files
            if "__pycache__" not in path.parts:
                link = target / path.relative_to(origin)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(path)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def fill(match):
        name = match.group(1)
        if name not in BLOCKS:
            raise PluginError(f"docs: {page.file.src_uri} asks for an unknown generated block {name!r}; "
                              f"known: {', '.join(BLOCKS)}")
        return BLOCKS[name]()

    return _MARK.sub(fill, markdown)


def on_files(files, config):
    folder = _figures_dir()
    if folder.is_dir():
        for png in sorted(folder.glob("*.png")):
            files.append(File.generated(config, f"gallery/{png.name}", abs_src_path=str(png)))
    return files
