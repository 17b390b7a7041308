"""The numbers the README quotes from a published build, in the words it quotes them.

The README's account of a published build sits between `<!-- quoted: <profile> -->` and
`<!-- /quoted -->`. `account` writes that account from the build's own tables (the main
table, its claims with the primary endpoints, the budget test; for the layout study its
task ceilings, room, interaction, per-rule claims and budget check), so that every number the
README gives can be traced to a file; `dctkd publish` rewrites the block and a test fails
when the README says anything else.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from .claims import interval_text
from .layout_study import ROOM

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


def _claim(r: pd.Series, holm: bool = False) -> str:
    """`+3.01 points, 95 % interval [...] over 7 seeds (...) → **supported**` of a claims row."""
    test = f", Holm-adjusted p = {r['p']:.3g}" if holm else ""
    return (f"{r['difference']:+.2f} points, 95 % interval "
            f"{interval_text(r['ci_low'], r['ci_high'])} over {r['seeds']} seeds "
            f"(margin ±{r['margin']:g}{test}) → **{r['verdict']}**")


def _budget_line(test: pd.DataFrame, name=lambda r: r["method"]) -> str:
    """The budget check in one line: how many rows converged, and each that did not."""
    off = test[test["verdict"] != "converged"]
    said = ", ".join(f"{name(r)} {r['verdict']} ({r['gain']:+.2f})" for _, r in off.iterrows())
    budget_seeds = int(test["seeds"].max())
    seeds_word = "seed" if budget_seeds == 1 else "seeds"
    return (f"- Budget test (twice the epochs, {budget_seeds} {seeds_word}): "
            + (f"{len(test) - len(off)} of {len(test)} rows converged; {said}."
               if said else f"all {len(test)} rows converged (gains "
               f"{test['gain'].min():+.2f} to {test['gain'].max():+.2f} points)."))


def _layout_account(tables: Path) -> list[str]:
    """The layout study's account: per rule and k its ceilings and room (val), the primary
    interaction, DCT − AT and DCT − KD under each rule, and the budget check."""
    design = pd.read_csv(tables / "layout_design.csv")
    room = pd.read_csv(tables / "layout_room.csv").set_index(["rule", "k"])
    inter = pd.read_csv(tables / "layout_interaction.csv")
    rules = pd.read_csv(tables / "layout_claims.csv")
    out = []
    for _, d in design.iterrows():
        key = (d["rule"], d["k"])
        r = room.loc[key]
        out.append(f"- {d['rule']}, k = {d['k']}: kinds-only ceiling "
                   f"{d['kinds-only ceiling (%)']:.1f} %, kinds+positions "
                   f"{d['kinds+positions ceiling (%)']:.1f} %; val Top-1 teacher "
                   f"{r['teacher']:.2f}, student alone {r['Baseline']:.2f}, AT {r['AT']:.2f} "
                   f"({'room' if str(r['room']).lower() == 'true' else 'no room'} under the "
                   f"{ROOM:g}-point rule).")
    for _, r in inter[inter["primary"].astype(str).str.lower() == "true"].iterrows():
        out.append(f"- {r['comparison']}, k = {r['k']}: {_claim(r, holm=True)}.")
    for comparison in ("DCT − AT", "DCT − KD"):
        rows = rules[rules["comparison"] == comparison]
        if len(rows):
            out.append(f"- {comparison}: " + "; ".join(
                f"{r['rule']} (k = {r['k']}) {_claim(r)}" for _, r in rows.iterrows()) + ".")
    budget = tables / "layout_budget.csv"
    if budget.is_file() and len(test := pd.read_csv(budget)):
        out.append(_budget_line(test, lambda r: f"{r['method']} ({r['rule']})"))
    return out


def account(folder: Path) -> list[str]:
    """The lines the README gives of the build published in `folder` (`reports/<profile>`)."""
    tables = Path(folder) / "tables"
    if (tables / "layout_interaction.csv").is_file():
        return _layout_account(tables)
    main, found = _main(tables)
    teacher, alone = _mean(main.loc["Teacher", TOP1]), _mean(main.loc["Baseline", TOP1])
    seeds = int(main.loc["Baseline", "seeds"])
    out = [f"- Teacher {teacher:.2f} %, student alone {alone:.2f} % over {seeds} seeds: "
           f"{teacher - alone:.2f} points below its teacher."]
    for _, r in found[found["primary"].astype(str).str.lower() == "true"].iterrows():
        out.append(f"- {r['comparison']}: {_claim(r, holm=True)}.")
    budget = tables / "budget_test.csv"
    if budget.is_file():
        out.append(_budget_line(pd.read_csv(budget)))
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
