"""Where the built-in profiles live, read without importing anything heavy.

The command line lists the profile names in its `--help`; keeping them here, apart from
`profile` (which imports the dataset and method catalogues, hence torch), keeps `--help` fast.
"""

from __future__ import annotations

from pathlib import Path

PROFILE_DIR = Path(__file__).with_name("profiles")


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))
