"""The numbers the README quotes from a published build, in the words it quotes them.

The README's account of a published build sits between `<!-- quoted: <profile> -->` and
`<!-- /quoted -->`. `account` writes that account from the build's own tables (the main
table, its claims with the primary endpoints, the budget test), so that every number the
README gives can be traced to a file; `dctkd publish` rewrites the block and a test fails
when the README says anything else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .claims import interval_text

TOP1 = "Top-1 (val-selected)"
_BLOCK = re.compile(r"(<!-- quoted: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /quoted -->)", re.S)


def _mean(cell: str) -> float:
    """The mean of a `"87.53 ± 2.31"` cell."""
    return float(str(cell).split("±")[0])


def _main(tables: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The main table and its claims table (the first pair's), as the build wrote them."""
    claims = sorted(tables.glob("main_*_claims.csv"))
    if not claims:
        raise FileNotFoundError(f"no main_*_claims.csv in {tables}; expected a published "
                                "build of a profile with a main table")
    main = tables / f"main_{claims[0].stem.removeprefix('main_').split('_')[0]}.csv"
    return pd.read_csv(main).set_index("method"), pd.read_csv(claims[0])


def account(folder: Path) -> list[str]:
    """The lines the README gives of the build published in `folder` (`reports/<profile>`)."""
    tables = Path(folder) / "tables"
    main, found = _main(tables)
    teacher, alone = _mean(main.loc["Teacher", TOP1]), _mean(main.loc["Baseline", TOP1])
    seeds = int(main.loc["Baseline", "seeds"])
    out = [f"- Teacher {teacher:.2f} %, student alone {alone:.2f} % over {seeds} seeds: "
           f"{teacher - alone:.2f} points below its teacher."]
    for _, r in found[found["primary"].astype(str).str.lower() == "true"].iterrows():
        out.append(f"- {r['comparison']}: {r['difference']:+.2f} points, 95 % interval "
                   f"{interval_text(r['ci_low'], r['ci_high'])} over {r['seeds']} seeds "
                   f"(margin ±{r['margin']:g}, Holm-adjusted p = {r['p']:.3g}) → "
                   f"**{r['verdict']}**.")
    budget = tables / "budget_test.csv"
    if budget.is_file():
        test = pd.read_csv(budget)
        off = test[test["verdict"] != "converged"]
        said = ", ".join(f"{r['method']} {r['verdict']} ({r['gain']:+.2f})"
                         for _, r in off.iterrows())
        budget_seeds = int(test["seeds"].max())
        seeds_word = "seed" if budget_seeds == 1 else "seeds"
        out.append(f"- Budget test (twice the epochs, {budget_seeds} {seeds_word}): "
                   + (f"{len(test) - len(off)} of {len(test)} rows converged; {said}."
                      if said else f"all {len(test)} rows converged (gains "
                      f"{test['gain'].min():+.2f} to {test['gain'].max():+.2f} points)."))
    return out


def blocks(text: str) -> dict[str, list[str]]:
    """`{profile: lines}` of every quoted block in `text`."""
    return {m["name"]: m["body"].strip("\n").splitlines() for m in _BLOCK.finditer(text)}


def rewrite(text: str, name: str, lines: list[str]) -> str:
    """`text` with the quoted block of `name` holding `lines` (ValueError without one)."""
    if name not in blocks(text):
        raise ValueError(f"no '<!-- quoted: {name} -->' block; expected one in the README")
    return _BLOCK.sub(lambda m: m.group(1) + "\n".join(lines) + "\n" + m.group(4)
                      if m["name"] == name else m.group(0), text)


__all__ = ["account", "blocks", "rewrite"]
