"""DIR/index.html: each figure with its caption, the paper figure it reproduces, its parameters, its checks
against theory, and the command that regenerates it alone."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
figure{margin:2.5em 0;border-top:1px solid #ccc;padding-top:1em}img{max-width:100%}
code,pre{background:#f4f4f4;padding:.1em .3em;font-size:.9em}pre{padding:.5em;overflow-x:auto}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.pass{color:#009E73}.fail{color:#D55E00;font-weight:bold}.meta{color:#555;font-size:.9em}"""


_MARKUP = re.compile(r"`([^`]+)`|\^\{([^{}]*)\}|_\{([^{}]*)\}|(?<=[^\W\d_])_(\w+)")


def rich(text: str) -> str:
    """Caption text → HTML: `code` spans as <code>, x^{…} and x_{…} (or x_W) as super-/subscripts; the rest
    escaped. Captions are plain text with these three marks; nothing else is interpreted."""
    out, pos = [], 0
    for m in _MARKUP.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        code, sup, sub, word = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif sup is not None:
            out.append(f"<sup>{html.escape(sup)}</sup>")
        else:
            out.append(f"<sub>{html.escape(sub if sub is not None else word)}</sub>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _checks(checks: dict) -> str:
    if not checks:
        return ""
    rows = []
    for name, c in checks.items():
        cls = "pass" if c["pass"] else "fail"
        value = "n/a" if c["value"] is None else f"{c['value']:.3g}"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{value} {html.escape(c['kind'])} {c['tol']:g}</td>"
                    f"<td class='{cls}'>{'pass' if c['pass'] else 'FAIL'}</td><td>{html.escape(c['why'])}</td></tr>")
    return ("<table><tr><th>check against theory</th><th>value</th><th></th><th>tolerance because</th></tr>"
            + "".join(rows) + "</table>")


def write_index(out_dir: Path, mods: dict) -> Path:
    """(Re)write out_dir/index.html from the NAME.json files present, in gallery order."""
    out_dir = Path(out_dir)
    parts = []
    for name in mods:
        meta_path = out_dir / f"{name}.json"
        if not meta_path.exists():
            continue
        meta = json.loads(meta_path.read_text())
        quick = " --quick" if meta.get("quick") else ""
        cmd = f"ufm figures --only {name} --out {out_dir}{quick}"
        secs = meta.get("seconds")
        parts.append(
            f"<figure id='{name}'><h2>{html.escape(meta['title'])}</h2>"
            f"<p class='meta'>Reproduces: {rich(meta['reproduces'])}"
            f"{' · quick mode' if quick else ''}{f' · built in {secs:.1f} s' if secs else ''}</p>"
            f"<a href='{name}.pdf'><img src='{name}.png' alt='{html.escape(meta['title'])}'></a>"
            f"<figcaption>{rich(meta['caption'])}</figcaption>"
            f"<p>Regenerate alone: <code>{html.escape(cmd)}</code> · numbers: <a href='{name}.json'>{name}.json</a></p>"
            f"<details><summary>parameters</summary><pre>{html.escape(json.dumps(meta['params'], indent=1))}</pre></details>"
            f"{_checks(meta.get('checks', {}))}</figure>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>ufm figures</title><style>{_CSS}</style>"
            f"</head><body><h1>ufm figures</h1><p>Every figure is computed from UFM solves and <code>theory/</code>; "
            f"each lists the checks of its numbers against the closed forms. Regenerate all: "
            f"<code>ufm figures --out {html.escape(str(out_dir))}</code>.</p>{''.join(parts)}</body></html>")
    path = out_dir / "index.html"
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
