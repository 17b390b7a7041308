"""A Slurm job for the tests, imported by the job processes of submitit's local executor
(the test puts this folder on their PYTHONPATH)."""

from __future__ import annotations

import os
import signal
import time

from dctkd.engine.slurm import TrainJob


class PreemptedOnce(TrainJob):
    """A `TrainJob` that records each epoch it completes (`run_id epoch pid` lines in
    `counter`) and, the first time it trains run `preempt`, is preempted as Slurm does it:
    USR2 at the start of the run's second epoch, after the first one's `last.pt` is saved."""

    def __init__(self, cfg, store, counter: str, preempt: str):
        super().__init__(cfg, store)
        self.counter, self.preempt, self.preempted = counter, preempt, False

    def __call__(self) -> str:
        from dctkd.engine import train as train_module

        real = train_module._train_epoch

        def counted(s, *args):
            epoch = args[-1]
            if s.cfg.run_id == self.preempt and epoch == 1 and not self.preempted:
                self.preempted = True  # kept by submitit's checkpoint: the requeue runs on
                os.kill(os.getpid(), signal.SIGUSR2)
                time.sleep(30)  # submitit's handler exits the process before this ends
            row = real(s, *args)
            with open(self.counter, "a") as fh:
                fh.write(f"{s.cfg.run_id} {epoch} {os.getpid()}\n")
            return row

        train_module._train_epoch = counted
        return super().__call__()
