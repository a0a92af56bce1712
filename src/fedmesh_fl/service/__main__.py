"""``python3 -m fedmesh_fl.service --config FILE.json`` (see the package docstring for the keys).

``--check-config FILE.json`` validates a config file exactly as the service would at start (every
field's range, the rule and its parameters against the round's quorum) and exits 0, or prints one
line naming the bad field and exits 2; it starts nothing and touches no state.  ``-`` reads the config
from stdin.  The aggregator role uses it as its config template's ``validate:`` command, and on stdin to
check the rendered config before any change (also in check mode).
"""
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


def check_config(path: str) -> int:
    try:
        load_config(path)
    except ConfigError as e:
        print(f"{path}: invalid aggregator config: {e}", file=sys.stderr)
        return 2
    print(f"{path}: valid aggregator config")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m fedmesh_fl.service", description="fedmesh aggregation service")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--config", help="service config JSON file")
    what.add_argument("--check-config", metavar="FILE",
                      help="validate FILE (- reads stdin) and exit (0: valid, 2: invalid)")
    args = ap.parse_args(argv)
    if args.check_config is not None:
        return check_config(args.check_config)
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
