"""Apache Beam pipelines and the ``swelm`` command line.  The only package that imports Beam;
pipelines only wire together functions from ``corpus_tools`` and ``tokenizer``."""

LOCAL_WORKER_ENV = "SWELM_LOCAL_WORKER"


def _quick_worker_exit() -> None:
    """In a worker process of the local runner (``--workers N``; the driver sets
    ``SWELM_LOCAL_WORKER``), end the process as soon as the Beam harness has returned normally:
    the interpreter's teardown after it (gRPC and a large heap) takes about 0.2 s per worker,
    and the runner stops its workers one after the other. Every bundle's output has reached the
    driver by then. After a failure the process ends the normal way, with its exit status."""
    import os
    import sys
    if os.environ.get(LOCAL_WORKER_ENV) != "1" or not sys.argv[0].endswith("sdk_worker_main.py"):
        return
    import atexit
    failed = []
    hook = sys.excepthook

    def excepthook(*exc):
        failed.append(exc[0])
        hook(*exc)

    def leave():
        if failed:
            return
        import logging
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(0)

    sys.excepthook = excepthook
    atexit.register(leave)


_quick_worker_exit()
