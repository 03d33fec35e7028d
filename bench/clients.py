"""A process holding many SSE clients, driven by the benchmark over stdin and stdout JSON lines.

1. It opens ``--count`` streams and prints ``{"ready": n, ...}``.
2. It reads ``{"start": ns, "end": ns}``: the CLOCK_MONOTONIC window in which to count.
3. After the window it prints what it counted, and closes every stream once stdin says
   ``close`` (or ends).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

from sseclient import Tally, Window, open_streams

MAX_RUN = 600.0  # seconds: no command may keep this process waiting longer


def emit(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def read_command() -> dict[str, object]:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if not line.strip():
        return {"close": True}
    message: dict[str, object] = json.loads(line)
    return message


async def run(args: argparse.Namespace) -> None:
    window = Window()
    tally = Tally()
    started = time.monotonic()
    connections = await open_streams(
        args.host, args.port, args.path, args.token, args.count, window, tally, batch=args.batch
    )
    emit({"ready": len(connections), "connectSeconds": time.monotonic() - started})
    try:
        command = await asyncio.wait_for(read_command(), MAX_RUN)
        if "start" in command:
            window.start, window.end = int(str(command["start"])), int(str(command["end"]))
            await asyncio.sleep(max(0.0, (window.end - time.monotonic_ns()) / 1e9))
            lost = sum(c.closed.done() for c in connections)
            emit({**tally.to_json(), "lost": lost})
            await asyncio.wait_for(read_command(), MAX_RUN)
    finally:
        for connection in connections:
            connection.close()
        await asyncio.sleep(0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--token")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    # uvloop: a client costs a third of asyncio's CPU per read, so that 1,000 streams on one
    # core measure the server and not a saturated client (docs/benchmarks.md, issue 17).
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    try:
        if args.loop == "uvloop":
            import uvloop  # the sessiondock[fast] extra

            uvloop.run(run(args))
        else:
            asyncio.run(run(args))
    except (ConnectionError, TimeoutError, OSError) as exc:
        emit({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
