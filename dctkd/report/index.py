"""`index.html`: every executed report with its figures (thumbnails) and tables, and the
state of each notebook of the last build (`status/<notebook>.json`)."""

from __future__ import annotations

import html
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from dctkd.files import write_json, write_text

from .notebook import read_manifests


def set_status(out: Path, notebook: str, state: str) -> None:
    """Record `state`, with the building process (pid and host), so a killed build's
    `running` can be told from a live one."""
    write_json(out / "status" / f"{notebook}.json",
               {"state": state, "time": time.time(), "pid": os.getpid(),
                "host": socket.gethostname()})


def read_status(out: Path) -> dict[str, str]:
    """`{notebook: "ok" | "failed" | "running" | "interrupted" | "skipped"}` of the notebooks
    the build has executed (or `skipped`: a run it needs failed); `interrupted` is a `running`
    whose build process on this host is gone, and an unreadable status file reads as
    `interrupted` too."""
    return {p.stem: _state(p) for p in sorted((Path(out) / "status").glob("*.json"))}


def _state(file: Path) -> str:
    try:
        status = json.loads(file.read_text())
        state = str(status["state"])
    except (OSError, ValueError, KeyError, TypeError):
        return "interrupted"
    here = status.get("host") == socket.gethostname()
    if state == "running" and here and not pid_alive(int(status.get("pid", 0))):
        return "interrupted"
    return state


def pid_alive(pid: int) -> bool:
    """True when a process `pid` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_index(out: Path, profile) -> Path:
    """`index.html`: every report with its figures (thumbnails) and tables, with captions."""
    status = read_status(out)
    manifests = {m["notebook"]: m for m in read_manifests(out)}
    for name in status:
        manifests.setdefault(name, {"notebook": name, "figures": [], "tables": []})
    header = (f"<p>Built {time.strftime('%Y-%m-%d %H:%M')}; runs in <code>runs/</code>.</p>")
    page = index_page(out, profile.name, profile.description, manifests, status, header)
    out.mkdir(parents=True, exist_ok=True)
    return write_text(out / "index.html", page)


def index_page(folder: Path, name: str, description: str, manifests: dict[str, dict],
               status: dict[str, str], header: str, notebook_links: tuple[str, ...] = (
                   "html", "ipynb"), keep: Callable[[str], bool] = lambda _: True) -> str:
    """The page: per notebook (`manifests`, by name) its links, figures and tables, whose files
    are relative to `folder`; `keep` picks the files linked (a published build has no PDF),
    `header` is HTML put under the title."""
    import pandas as pd

    esc = html.escape
    parts = [
        "<!doctype html><meta charset='utf-8'>",
        f"<title>dctkd — {esc(name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "figure{display:inline-block;width:330px;vertical-align:top;margin:0 1em 1em 0}"
        "figure img{width:100%;border:1px solid #ddd}figcaption{font-size:85%}"
        "table{border-collapse:collapse;font-size:85%;margin:.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 6px}.failed{color:#b00}"
        ".cap{font-size:90%;color:#333}</style>",
        f"<h1>dctkd reports — profile <code>{esc(name)}</code></h1>",
        f"<p>{esc(description)}</p>",
        header,
        "<ol>" + "".join(f"<li><a href='#{esc(nb)}'>{esc(m.get('title', nb))}</a> (<a href="
                         f"'notebooks/{esc(nb)}.html'>report</a>)</li>"
                         for nb, m in sorted(manifests.items())) + "</ol>",
    ]
    for nb, m in sorted(manifests.items()):
        state = status.get(nb, "ok")
        links = [f"<a href='notebooks/{esc(nb)}.{kind}'>{label}</a>" for kind, label in
                 (("html", "report"), ("ipynb", "notebook")) if kind in notebook_links]
        flag = "" if state == "ok" else f" <span class='failed'>({esc(state)})</span>"
        parts.append(f"<h2 id='{esc(nb)}'>{esc(m.get('title', nb))}{flag}</h2>"
                     f"<p>{' · '.join(links)}</p>")
        for fig in m.get("figures", []):
            files = [f for f in fig["files"] if keep(f)]
            if not files:
                continue
            png = next((f for f in files if f.endswith(".png")), files[0])
            alts = " ".join(f"<a href='{esc(f)}'>{esc(Path(f).suffix[1:])}</a>" for f in files)
            parts.append(f"<figure><a href='{esc(png)}'><img src='{esc(png)}' "
                         f"alt='{esc(fig['name'])}'></a><figcaption><b>{esc(fig['name'])}</b>"
                         f" ({alts}) {esc(fig['caption'])}</figcaption></figure>")
        for tab in m.get("tables", []):
            files = [f for f in tab["files"] if keep(f)]
            alts = " ".join(f"<a href='{esc(f)}'>{esc(Path(f).suffix[1:])}</a>" for f in files)
            csv = next((f for f in files if f.endswith(".csv")), None)
            body = ""
            if csv and (folder / csv).is_file():
                df = pd.read_csv(folder / csv)
                body = df.head(40).to_html(index=False, na_rep="", float_format="%.2f")
                if len(df) > 40:
                    body += f"<p class='cap'>first 40 of {len(df)} rows</p>"
            parts.append(f"<h3>{esc(tab['name'])} <small>({alts})</small></h3>"
                         f"<p class='cap'>{esc(tab['caption'])}</p>{body}")
    return "\n".join(parts) + "\n"


__all__ = ["index_page", "pid_alive", "read_status", "set_status", "write_index"]
