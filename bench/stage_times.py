"""Run a swelm command with the in-process runner's time and worker memory per stage recorded.

``python -m bench.stage_times OUT.json swelm-args...`` runs ``swelm swelm-args...`` in this
process with Beam's FnApiRunner timing each bundle it executes, and writes ``{stage: [seconds,
bundles, worker MB, driver MB, order]}`` to OUT.json: the stage name is Beam's fused stage (the
transforms it runs, joined by ``+``); the MB are the largest resident sizes (VmRSS, sampled
every 0.2 s) of any child process of this one (the workers) and of this process while the stage
ran (what a stage before it left resident counts too: compare with the stages before it in
``order``, the place of the stage's first bundle in the run). bench/scale.py uses it with
``--stage-times`` to show where the time and the memory of a build go as the input grows."""
from __future__ import annotations

import json
import os
import sys
import threading
import time


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = []
        try:        # a thread's children are listed under that thread
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    kids += [int(c) for c in f.read().split()]
        except OSError:
            pass
        out += kids
        todo += kids
    return out


class _Sampler:
    """The largest child and driver RSS seen since the last ``take()``."""

    def __init__(self, every: float = 0.2):
        self.lock, self.every = threading.Lock(), every
        self.worker = self.driver = 0.0
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        me = os.getpid()
        while not self.done.wait(self.every):
            w = max((_rss_mb(c) for c in _children(me)), default=0.0)
            d = _rss_mb(me)
            with self.lock:
                self.worker, self.driver = max(self.worker, w), max(self.driver, d)

    def take(self) -> tuple[float, float]:
        with self.lock:
            out = self.worker, self.driver
            self.worker = self.driver = 0.0
        return out


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, args = argv[0], argv[1:]
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    times: dict = {}
    sampler = _Sampler()
    original = fn_runner.FnApiRunner._execute_bundle

    def timed(self, ctx, bundle_manager, bundle_input):
        sampler.take()
        t0 = time.perf_counter()
        try:
            return original(self, ctx, bundle_manager, bundle_input)
        finally:
            worker, driver = sampler.take()
            entry = times.setdefault(bundle_manager.stage.name, [0.0, 0, 0.0, 0.0, len(times)])
            entry[0] += time.perf_counter() - t0
            entry[1] += 1
            entry[2], entry[3] = max(entry[2], worker), max(entry[3], driver)

    fn_runner.FnApiRunner._execute_bundle = timed
    from swelm.cli import main as swelm_main
    try:
        return swelm_main(args)
    finally:
        sampler.done.set()
        with open(out, "w", encoding="utf-8") as f:
            json.dump({k: [round(v[0], 2), v[1], round(v[2]), round(v[3]), v[4]] for k, v in
                       sorted(times.items(), key=lambda kv: -kv[1][0])}, f, indent=1,
                      ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
