"""Run the emulator in the foreground: ``python -m hubspot_emulator --port 8090 --token demo-token``."""

from __future__ import annotations

import argparse
import signal
import threading

from .schemas import DEFAULT_PORTAL_ID
from .server import Emulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hubspot_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (0 = random; default 8090)")
    parser.add_argument("--token", default="demo-token", help="accepted bearer token (default demo-token)")
    parser.add_argument("--data-file", default=None, help="JSON file the records persist to")
    parser.add_argument("--rate-limit-per-10s", type=int, default=None, help="enforce a 10 s rolling limit")
    parser.add_argument("--window-seconds", type=float, default=10.0,
                        help="length of the rolling window (HubSpot's is 10 s; default 10)")
    parser.add_argument("--daily-limit", type=int, default=None, help="enforce a daily limit")
    parser.add_argument("--portal-id", type=int, default=DEFAULT_PORTAL_ID,
                        help=f"portal id in custom objects' fully qualified names (default {DEFAULT_PORTAL_ID})")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    emulator = Emulator(
        token=args.token,
        port=args.port,
        data_file=args.data_file,
        rate_limit_per_10s=args.rate_limit_per_10s,
        daily_limit=args.daily_limit,
        window_seconds=args.window_seconds,
        host=args.host,
        portal_id=args.portal_id,
    )
    emulator.verbose = args.verbose
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    emulator.start()
    print(f"HubSpot emulator listening on {emulator.base_url} (bearer token: {args.token})", flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
