"""`dctkd fetch-weights`: download the ImageNet weight files a profile needs, before a build.

Compute nodes often have no network; a login node does. Run this there once and every
`pretrained=imagenet` run of the profile finds its file in the torch hub cache
(`$TORCH_HOME/hub/checkpoints/`), the only place the training reads it from
(`dctkd.models.weights`). Files already present are left alone.
"""

from __future__ import annotations

import argparse
import sys

from dctkd.config import RunConfig
from dctkd.engine.launch import needed_first
from dctkd.models.weights import MissingWeights, cached_path, ensure_weights, weights_of

from .arguments import fetch_weights_arguments
from .grid import defined_families, grid
from .profile import load_profile


def pretrained_models(cfgs: list[RunConfig]) -> list[str]:
    """The models that start from ImageNet weights among `cfgs` and their teachers, sorted."""
    every = [c for cfg in cfgs for c in (*needed_first(cfg), cfg)]
    return sorted({c.model for c in every if c.pretrained == "imagenet"})


def profile_models(profile: str, overrides: list[str] | None = None) -> list[str]:
    """Every model of the profile's runs (all notebook families) that needs ImageNet weights."""
    prof = load_profile(profile, overrides)
    return pretrained_models([cell.cfg for cell in grid(prof, defined_families(prof))])


def fetch(models: list[str], dry_run: bool = False, log=print) -> list[str]:
    """Download the missing files of `models`; returns the models still missing afterwards."""
    missing = []
    for name in models:
        path = cached_path(name)
        if path.is_file():
            log(f"{name}: {path.name} already present in {path.parent}")
        elif dry_run:
            log(f"{name}: {path.name} missing; would download {weights_of(name).url}")
            missing.append(name)
        else:
            log(f"{name}: downloading {weights_of(name).url} into {path.parent}")
            try:
                ensure_weights(name)
            except MissingWeights as err:
                log(f"{name}: {err}")
                missing.append(name)
    return missing


add_arguments = fetch_weights_arguments  # built without importing the machinery


def main(args: argparse.Namespace) -> int:
    try:
        models = sorted(set(profile_models(args.profile, args.overrides)) | set(args.model))
        for name in args.model:
            weights_of(name)
    except ValueError as err:
        print(f"dctkd fetch-weights: {err}", file=sys.stderr)
        return 2
    if not models:
        print(f"profile {args.profile!r} starts no run from ImageNet weights: nothing to fetch")
        return 0
    missing = fetch(models, dry_run=args.dry_run)
    if not missing:
        print(f"all {len(models)} weight file(s) of profile {args.profile!r} are in the cache")
    return 1 if missing else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="dctkd fetch-weights")
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
