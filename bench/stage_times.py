"""Run a swelm command with the in-process runner's time and worker memory per stage recorded.

``python -m bench.stage_times OUT.json swelm-args...`` runs ``swelm swelm-args...`` in this
process and writes ``{stage: [seconds, bundles, worker MB, driver MB, order]}`` to OUT.json.
Nothing in Beam is replaced: a thread samples, every 0.1 s, which fused stage the thread
running the pipeline is executing (the ``bundle_context_manager`` of Beam's
``_execute_bundle`` frame on its stack, read without touching it), so the seconds are samples × 0.1 s and the bundles
the distinct bundles sampled (a bundle shorter than a sample can be missed).  The stage name
is Beam's fused stage (the transforms it runs, joined by ``+``); the MB are the largest
resident sizes (VmRSS) of any child process of this one (the workers) and of this process
while the stage ran (what a stage before it left resident counts too: compare with the stages
before it in ``order``, the place of the stage's first sample in the run). bench/scale.py uses it with
``--stage-times`` to show where the time and the memory of a build go as the input grows."""
from __future__ import annotations

import json
import os
import sys
import threading


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


def _current_bundle(ident: int):
    """``(stage name, bundle id)`` of the bundle the thread ``ident`` is executing, if any."""
    frame = sys._current_frames().get(ident)
    while frame is not None:
        if frame.f_code.co_name == "_execute_bundle" and "fn_api_runner" in \
                frame.f_code.co_filename:
            local = frame.f_locals
            context = local.get("bundle_context_manager")
            if context is None:
                return None
            return context.stage.name, id(local.get("bundle_input"))
        frame = frame.f_back
    return None


class _Sampler:
    """Samples the stage the pipeline's thread runs, with the largest child and driver RSS."""

    def __init__(self, ident: int, every: float = 0.1):
        self.ident, self.every = ident, every
        self.times: dict = {}
        self.bundles: dict = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        me = os.getpid()
        while not self.done.wait(self.every):
            bundle = _current_bundle(self.ident)
            if bundle is None:
                continue
            name = bundle[0]
            w = max((_rss_mb(c) for c in _children(me)), default=0.0)
            d = _rss_mb(me)
            entry = self.times.setdefault(name, [0.0, 0, 0.0, 0.0, len(self.times)])
            self.bundles.setdefault(name, set()).add(bundle[1])
            entry[0] += self.every
            entry[1] = len(self.bundles[name])
            entry[2], entry[3] = max(entry[2], w), max(entry[3], d)

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        return self.times


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, args = argv[0], argv[1:]
    sampler = _Sampler(threading.get_ident())
    from swelm.cli import main as swelm_main
    try:
        return swelm_main(args)
    finally:
        times = sampler.stop()
        with open(out, "w", encoding="utf-8") as f:
            json.dump({k: [round(v[0], 2), v[1], round(v[2]), round(v[3]), v[4]] for k, v in
                       sorted(times.items(), key=lambda kv: -kv[1][0])}, f, indent=1,
                      ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
