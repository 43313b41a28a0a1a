"""Run a swelm command with the in-process runner's time per stage recorded.

``python -m bench.stage_times OUT.json swelm-args...`` runs ``swelm swelm-args...`` in this
process with Beam's FnApiRunner timing each bundle it executes, and writes ``{stage: [seconds,
bundles]}`` (the stage name is Beam's fused stage: the transforms it runs, joined by ``+``) to
OUT.json.  bench/scale.py uses it with ``--stage-times`` to show where the time of a build goes
as the input grows."""
from __future__ import annotations

import json
import sys
import time


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    out, args = argv[0], argv[1:]
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    times: dict = {}
    original = fn_runner.FnApiRunner._execute_bundle

    def timed(self, ctx, bundle_manager, bundle_input):
        t0 = time.perf_counter()
        try:
            return original(self, ctx, bundle_manager, bundle_input)
        finally:
            entry = times.setdefault(bundle_manager.stage.name, [0.0, 0])
            entry[0] += time.perf_counter() - t0
            entry[1] += 1

    fn_runner.FnApiRunner._execute_bundle = timed
    from swelm.cli import main as swelm_main
    try:
        return swelm_main(args)
    finally:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({k: [round(v[0], 2), v[1]] for k, v in
                       sorted(times.items(), key=lambda kv: -kv[1][0])}, f, indent=1,
                      ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
