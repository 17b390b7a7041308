"""The options of the report commands (`dctkd figures`, `status`, `fetch-weights`).

They live apart from the commands' code, which imports the catalogues, torch, papermill and
submitit: the command line builds its parser from here, so `--help` and a mistyped option
answer at once, and the machinery is imported only when the command runs.
"""

from __future__ import annotations

import argparse

from .paths import list_profiles

SLURM_OPTIONS = {"partition": str, "gpus_per_run": int, "time": str, "array_parallelism": int}

_SLURM_HELP = {
    "partition": "partition of the jobs",
    "gpus_per_run": "GPUs of each run's job (default 1)",
    "time": "time limit of each job: minutes or [D-]HH:MM:SS (default 24:00:00); a job that "
            "reaches it is requeued and resumes",
    "array_parallelism": "tasks of one job array running at once (default 64); with --plan, "
                         "the runs in flight at once for the wall time",
}


def _profile(p: argparse.ArgumentParser, default: str, what: str = "") -> None:
    p.add_argument("--profile", default=default,
                   help=f"one of {list_profiles()} or a profile YAML path (default {default})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help=f"override a profile value{what} (repeatable)")


def launcher_arguments(p: argparse.ArgumentParser) -> None:
    """`--launcher` and the Slurm options of `dctkd figures`."""
    p.add_argument("--launcher", choices=("local", "slurm"), default="local",
                   help="train the missing runs here (default; one GPU per worker) or as "
                        "Slurm job arrays")
    g = p.add_argument_group("Slurm (--launcher slurm; defaults from the profile's slurm: "
                             "section)")
    g.add_argument("--wait", action="store_true",
                   help="wait for the jobs, then execute the notebooks (default: submit, print "
                        "the job arrays and return)")
    for key, kind in SLURM_OPTIONS.items():
        g.add_argument(f"--{key.replace('_', '-')}", type=kind, default=None,
                       help=_SLURM_HELP[key])
    g.add_argument("--slurm-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. constraint=a100 or qos=high (repeatable)")


def figures_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `dctkd figures`."""
    _profile(p, "quick", ", e.g. seeds=[0]")
    p.add_argument("--nb", action="append", metavar="NAME",
                   help="run only this notebook (stem or prefix, e.g. 04); repeatable")
    p.add_argument("--data", help="folder with one sub-folder per real dataset "
                   "(default: $DCTKD_DATA)")
    p.add_argument("--results", help="output folder (default results/<profile>)")
    p.add_argument("--workers", type=int, default=None,
                   help="runs trained at once here: one per GPU, each on its own (default), "
                        "else 2")
    p.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time")
    p.add_argument("--notebooks", help="notebooks folder (default the project's notebooks/)")
    p.add_argument("--no-html", action="store_true", help="skip the HTML export")
    p.add_argument("--no-pretrain", action="store_true",
                   help="let each notebook train its own runs, one at a time")
    g = p.add_argument_group("cost plan (--plan)")
    g.add_argument("--plan", action="store_true",
                   help="print the runs each notebook needs and how many are missing, and per "
                        "notebook family the runs, epochs, images and GPU-hours, then stop")
    g.add_argument("--img-per-s", type=float, default=None, metavar="N",
                   help="training images/s of one GPU for the GPU-hours (default: the file "
                        "bench/train_step.py --save wrote)")
    g.add_argument("--throughput", metavar="FILE.json", default=None,
                   help="the measured throughput to read (default results/throughput.json, "
                        "where bench/train_step.py --save writes it)")
    g.add_argument("--cpu-throughput", metavar="FILE.json", default=None,
                   help="on a machine without a GPU, the rates measured on its CPU (default "
                        "results/cpu_throughput.json, where bench/cpu_train_step.py --save "
                        "writes them)")
    launcher_arguments(p)


def status_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `dctkd status`."""
    p.description = ("Runs done / running / failed / missing for each notebook of a profile, "
                     "and each notebook's last build.")
    _profile(p, "quick", ", as for dctkd figures")
    p.add_argument("--results", help="results folder (default results/<profile>)")
    p.add_argument("--nb", action="append", metavar="NAME",
                   help="only this notebook (stem or prefix); repeatable")
    p.add_argument("--data", help="folder with one sub-folder per real dataset")
    p.add_argument("--notebooks", help="notebooks folder (default the project's notebooks/)")


def publish_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `dctkd publish`."""
    p.description = ("Publish a finished build (results/<profile>) as reports/<profile>: "
                     "executed notebooks as HTML, tables, figures (PNG), an index, its "
                     "screenshot and BUILD.json; or --check whether the published builds are "
                     "current with the code.")
    p.add_argument("--profile", default="quick",
                   help=f"one of {list_profiles()} or a profile YAML path (default quick)")
    p.add_argument("--results", help="the build's folder (default results/<profile>)")
    p.add_argument("--reports", help="where published builds live (default reports/)")
    p.add_argument("--notebooks", help="notebooks folder (default the project's notebooks/)")
    p.add_argument("--check", action="store_true",
                   help="publish nothing: say for each published build whether a file its "
                        "numbers depend on changed since it was built (exit 1 if one did)")
    p.add_argument("--allow-stale", action="store_true",
                   help="publish a build whose code changed since (BUILD.json says so)")
    p.add_argument("--no-browser", action="store_true",
                   help="skip the index screenshot and the browser check of every link (for "
                        "a machine without Chromium)")


def fetch_weights_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `dctkd fetch-weights`."""
    p.description = ("Download every ImageNet weight file a profile's runs start from into the "
                     "torch hub cache ($TORCH_HOME), for machines without network.")
    _profile(p, "paper", ", as `dctkd figures --set`")
    p.add_argument("--model", action="append", default=[], metavar="NAME",
                   help="fetch this model's weights too (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="list what is missing, download nothing")
