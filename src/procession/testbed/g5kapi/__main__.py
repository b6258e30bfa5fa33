"""``python -m procession.testbed.g5kapi``: serve the Grid'5000 API stand-in."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from ._server import DATA_DIR, G5kApiServer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m procession.testbed.g5kapi",
        description="A local stand-in for the Grid'5000 REST API.",
    )
    ap.add_argument("--data", default=str(DATA_DIR), help="the grid5000 reference data directory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080, help="0 picks a free port")
    ap.add_argument(
        "--oarapi",
        action="append",
        default=[],
        metavar="SITE=URL",
        help="OAR REST API behind SITE's status and jobs (repeatable), "
        "e.g. grenoble=http://127.0.0.1:6668/oarapi",
    )
    ap.add_argument("--default-user", default=os.environ.get("USER", "nobody"))
    ap.add_argument("--deploy-seconds", type=float, default=3.0)
    ap.add_argument("--ko-nodes", nargs="*", default=[])
    ap.add_argument("-v", "--verbose", action="store_true", help="log every request")
    args = ap.parse_args(argv)
    oar_api = dict(spec.split("=", 1) for spec in args.oarapi)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    server = G5kApiServer(
        args.data,
        host=args.host,
        port=args.port,
        oar_api=oar_api,
        default_user=args.default_user,
        deploy_seconds=args.deploy_seconds,
        ko_nodes=args.ko_nodes,
    )
    # Ctrl-C and SIGTERM stop it cleanly, even when started in the
    # background by a shell (which makes it inherit an ignored SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    server.start()
    print(f"Grid'5000 API stand-in on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
