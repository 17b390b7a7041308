"""Test-wide settings: one intra-op thread per test process.

`make test` runs pytest with two worker processes on machines that often have two cores;
with torch's default threads each worker would spin-wait against the other.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
