"""End to end: server CPU time per handshake and time to the 101, for
``wsnegotiate serve`` (on asyncio's loop, and on uvloop when it is installed; and
each again with h11 reading every head, ``Policy(fast_path=False)``), the Node ws
server, a websockets asyncio server and an aiohttp server, all on 127.0.0.1 and all
without compression, driven by one load generator in a separate process (many
short connections, bounded in count and time).

The server's own CPU time (utime + stime from /proc/PID/stat, read before and
after a trial) is what is compared: a load generator that saturates first cannot
hide it. Its user part, the time in the server's own code rather than the kernel's
socket work that every server does alike, is printed beside it. Trials alternate
between the servers, round by round; medians are printed, and beside them the
median of each round's ratio to the Node ws server's trial of the same round.

    python -m benchmarks.e2e [--connections 2000] [--concurrency 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wsnegotiate.cli.samples import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = Path(
    os.environ.get("WSNEGOTIATE_NODE_MODULES", ROOT / "tests" / "interop" / "node_modules")
)
CHROME = next(sample.data for sample in SAMPLES if sample.name == "chrome")
TICK = os.sysconf("SC_CLK_TCK")


# -- the load generator (its own process) -----------------------------------------


async def _one(port: int, latencies: list[float]) -> None:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(CHROME)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101 "):
            raise RuntimeError(f"not a 101: {head[:40]!r}")
        latencies.append(time.perf_counter() - start)
    finally:
        writer.close()


async def load(port: int, connections: int, concurrency: int, limit: float) -> dict[str, float]:
    latencies: list[float] = []
    remaining = iter(range(connections))

    async def worker() -> None:
        for _ in remaining:
            await asyncio.wait_for(_one(port, latencies), 10)

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), limit)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "count": len(latencies),
        "seconds": elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


# -- servers and trials -------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float]:
    """utime and stime of a process (fields 14 and 15 of /proc/PID/stat): the time
    in its own code, and in the kernel on its behalf (sockets, epoll)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process."""
    return sum(cpu_times(pid))


@dataclass
class Server:
    name: str
    process: subprocess.Popen[str]
    port: int

    def cpu_times(self) -> tuple[float, float]:
        return cpu_times(self.process.pid)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(name: str, command: list[str], env: dict[str, str] | None = None) -> Server:
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening" not in line:
        process.kill()
        raise RuntimeError(f"{name} did not start: {line!r}")
    port = int(line.rstrip().rstrip("/").rsplit(":", 1)[-1].split()[-1])
    return Server(name, process, port)


def servers() -> list[Server]:
    # Like the others (Node ws perMessageDeflate false, websockets compression=None,
    # aiohttp compress=False), serve runs without permessage-deflate, on both loops.
    # Each also with h11 reading every head (``Policy(fast_path=False)``). No server
    # logs a line per handshake (serve's access log is on by default: --no-access-log).
    serve = [
        sys.executable, "-m", "wsnegotiate", "serve", "--port", "0", "--no-deflate",
        "--no-access-log",
    ]  # fmt: skip
    h11_only = [sys.executable, "-m", "benchmarks.e2e_servers", "wsnegotiate-h11"]
    loops = ["asyncio"]
    if importlib.util.find_spec("uvloop") is not None:
        loops.append("uvloop")
    else:
        print(
            "wsnegotiate serve (uvloop) skipped: pip install 'wsnegotiate[uvloop]'", file=sys.stderr
        )
    started = []
    for loop in loops:
        started.append(start(f"wsnegotiate serve ({loop})", [*serve, "--loop", loop]))
        started.append(start(f"serve, h11 only ({loop})", [*h11_only, loop]))
    if shutil.which("node") and (NODE_MODULES / "ws").is_dir():
        script = ROOT / "tests" / "interop" / "node_ws_server.js"
        env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
        started.append(start("Node ws", ["node", str(script)], env))
    else:
        print(f"Node ws skipped: no node or no {NODE_MODULES / 'ws'}", file=sys.stderr)
    for library in ("websockets", "aiohttp"):
        started.append(start(library, [sys.executable, "-m", "benchmarks.e2e_servers", library]))
    return started


def trial(server: Server, connections: int, concurrency: int, limit: float) -> dict[str, float]:
    user, system = server.cpu_times()
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.e2e",
            "--load",
            str(server.port),
            "--connections",
            str(connections),
            "--concurrency",
            str(concurrency),
            "--limit",
            str(limit),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=limit + 30,
    ).stdout
    time.sleep(0.2)  # let the server finish closing the last connections
    result: dict[str, float] = json.loads(output)
    user_after, system_after = server.cpu_times()
    result["user"] = (user_after - user) / result["count"]
    result["cpu"] = result["user"] + (system_after - system) / result["count"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per trial at most")
    parser.add_argument("--load", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load is not None:
        coroutine = load(args.load, args.connections, args.concurrency, args.limit)
        print(json.dumps(asyncio.run(coroutine)))
        return
    running = servers()
    try:
        for server in running:  # warm up: imports, caches, JIT
            trial(server, 200, args.concurrency, args.limit)
        results: dict[str, list[dict[str, float]]] = {server.name: [] for server in running}
        for _ in range(args.rounds):
            for server in running:
                results[server.name].append(
                    trial(server, args.connections, args.concurrency, args.limit)
                )
    finally:
        for server in running:
            server.stop()
    medians = {
        name: {
            key: statistics.median(t[key] for t in trials) for key in ("cpu", "user", "p50", "p99")
        }
        for name, trials in results.items()
    }
    # The ratio of each round's trial to the Node ws trial of the same round, then the
    # median of those: paired rounds, so a slow spell of the machine hits both sides.
    base = results.get("Node ws") or next(iter(results.values()))
    paired = {
        name: statistics.median(t["cpu"] / b["cpu"] for t, b in zip(trials, base, strict=True))
        for name, trials in results.items()
    }
    print(
        f"{args.connections} connections at concurrency {args.concurrency}, "
        f"{args.rounds} rounds, medians"
    )
    print(
        f"{'server':28}{'CPU µs/handshake':>18}{'x Node ws':>11}{'of which user':>15}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    for name, m in medians.items():
        print(
            f"{name:28}{m['cpu'] * 1e6:18.0f}{paired[name]:11.2f}{m['user'] * 1e6:15.0f}"
            f"{m['p50'] * 1e3:9.2f}{m['p99'] * 1e3:9.2f}"
        )


if __name__ == "__main__":
    main()
