"""``python3 -m fedmesh_fl.service --config FILE.json`` (see the package docstring for the keys)."""
from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import traceback

from .app import start
from .config import ConfigError, load_config
from .logs import log, set_level


async def _serve(cfg_path: str) -> int:
    cfg = load_config(cfg_path)
    set_level(cfg.log_level)
    runner, _port = await start(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log("info", "stopping")
        await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fedmesh_fl.service", description="fedmesh aggregation service")
    ap.add_argument("--config", required=True, help="service config JSON file")
    args = ap.parse_args(argv)
    # The event loop thread is I/O bound and the executor threads run NumPy loops that take the GIL
    # back every chunk; a short switch interval keeps the loop from waiting 5 ms per socket read.
    sys.setswitchinterval(0.0005)
    try:
        return asyncio.run(_serve(args.config))
    except (ConfigError, ValueError, OSError) as e:
        log("error", "startup_failed", error=str(e))
        return 2
    except Exception as e:  # anything else: still one JSON line, not a bare traceback
        log("error", "crashed", error=repr(e), traceback=traceback.format_exc()[-4000:])
        return 1


if __name__ == "__main__":
    sys.exit(main())
