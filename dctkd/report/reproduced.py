"""Did a build reproduce the published one? Its primary endpoints set beside the published.

A reader of a paper companion most wants to know whether the numbers hold when they run it
themselves. After a build, each primary comparison of its claims tables (`*_claims.csv`,
rows with `primary` true) is read beside the same comparison of the build published under
`reports/<profile>/tables/`: the fresh difference *reproduced* the published one when it
lies inside the published 95 % interval.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .claims import interval_text


def primary_rows(tables: Path) -> pd.DataFrame:
    """Every primary row of the claims tables in `tables`: `table, comparison, seeds,
    difference, ci_low, ci_high, verdict` (empty when there are none)."""
    frames = []
    for path in sorted(Path(tables).glob("*_claims.csv")):
        frame = pd.read_csv(path)
        if "primary" not in frame.columns:
            continue
        rows = frame[frame["primary"].astype(str).str.lower() == "true"]
        frames.append(rows.assign(table=path.stem))
    columns = ["table", "comparison", "seeds", "difference", "ci_low", "ci_high", "verdict"]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames)[columns].reset_index(drop=True)


def compare(fresh: Path, published: Path) -> pd.DataFrame:
    """A row per primary comparison present in both: the fresh and published differences,
    the published interval, both verdicts, and `reproduced` (the fresh difference inside the
    published interval)."""
    new, old = primary_rows(fresh), primary_rows(published)
    both = new.merge(old, on=["table", "comparison"], suffixes=("", "_published"))
    both["reproduced"] = ((both["ci_low_published"] <= both["difference"])
                          & (both["difference"] <= both["ci_high_published"]))
    return both


def lines(table: pd.DataFrame) -> list[str]:
    """`compare` in words, one line per endpoint."""
    out = []
    for _, r in table.iterrows():
        said = "reproduced" if r["reproduced"] else "NOT reproduced"
        out.append(f"{r['comparison']}: {r['difference']:+.2f} over {r['seeds']} seeds "
                   f"({r['verdict']}); published {r['difference_published']:+.2f} "
                   f"{interval_text(r['ci_low_published'], r['ci_high_published'])} "
                   f"({r['verdict_published']}) → {said}")
    return out


def report(results: Path, reports: Path, log=print) -> pd.DataFrame | None:
    """Print `compare` for a build in `results` against its publication in `reports` (both a
    profile's folder); None when either has no primary endpoints."""
    tables, published = Path(results) / "tables", Path(reports) / "tables"
    if not published.is_dir() or not tables.is_dir():
        return None
    table = compare(tables, published)
    if table.empty:
        return None
    log(f"[figures] primary endpoints against the build published in {reports}:")
    for line in lines(table):
        log(f"  {line}")
    return table


__all__ = ["compare", "lines", "primary_rows", "report"]
