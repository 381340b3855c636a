"""Latency of one route at a constant request rate: p50 and p99, in milliseconds.

wrk measures latency under closed-loop load (each connection sends its next request
when the last one is answered), so a slow answer delays the requests behind it and
they are never timed: its percentiles hide the wait ("coordinated omission"). wrk2,
which holds a fixed rate, is not packaged in Debian. So this is a small open-loop load
generator: request k is due at start + k / rate, whatever happened before; a free
keep-alive connection (of ``--connections``) sends it, and its latency runs from the
moment it was due to the last byte of the answer. A request that waits for a
connection, because the server is slow, counts that wait. The rate must be well below
what the server can do (see the req/s figures) or every later request waits longer.

The first second is a warm-up and not counted. Any answer but 2xx stops it. Run alone:

    .venv/bin/python bench/latency.py http://127.0.0.1:8000/api/v1/token \\
        --header "Authorization: Bearer fpd_…" --rate 300 --seconds 10

It prints one JSON object: p50, p99 and the longest (ms), and the requests timed.
The client runs in Python, so its own time (tens of microseconds a request) is in
every figure, the same for every server it is pointed at.
"""

import argparse
import asyncio
import json
import statistics
from urllib.parse import urlsplit

WARM_UP_SECONDS = 1.0
SPIN_SECONDS = 0.0015


async def answer(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 answer (headers, then a body of Content-Length); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
        elif name.strip().lower() == "transfer-encoding":
            raise SystemExit("latency.py reads answers with a Content-Length only")
    if length:
        await reader.readexactly(length)
    return status


async def load(url: str, headers: list[str], rate: float, seconds: float, connections: int):
    parts = urlsplit(url)
    request = (
        f"GET {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1\r\n"
        f"Host: {parts.netloc}\r\n" + "".join(f"{header}\r\n" for header in headers) + "\r\n"
    ).encode("latin-1")
    due: asyncio.Queue = asyncio.Queue()
    timed: list[float] = []
    total = int((WARM_UP_SECONDS + seconds) * rate)
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.1

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
        while True:
            index, scheduled = await due.get()
            if index is None:
                break
            try:
                writer.write(request)
                status = await answer(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                # The server closed a connection left idle past its keep-alive (at low
                # rates): a new one, timed too, as a browser or proxy would open it.
                writer.close()
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
                writer.write(request)
                status = await answer(reader)
            finished = loop.time()
            if not 200 <= status < 300:
                raise SystemExit(f"{url} answered {status}")
            if scheduled - start >= WARM_UP_SECONDS:
                timed.append(finished - scheduled)
        writer.close()

    async def schedule() -> None:
        for index in range(total):
            scheduled = start + index / rate
            # The loop's timers wake up to a millisecond late (epoll counts whole
            # milliseconds): sleep until just before, then yield until it is due.
            if scheduled - loop.time() > SPIN_SECONDS:
                await asyncio.sleep(scheduled - loop.time() - SPIN_SECONDS)
            while loop.time() < scheduled:
                await asyncio.sleep(0)
            due.put_nowait((index, scheduled))
        for _ in range(connections):
            due.put_nowait((None, None))

    await asyncio.gather(schedule(), *(connection() for _ in range(connections)))
    if len(timed) < 100:
        raise SystemExit(f"{len(timed)} requests timed: too few for a p99, raise the rate or time")
    cuts = statistics.quantiles(timed, n=100, method="inclusive")
    return {
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "max_ms": max(timed) * 1000,
        "requests": len(timed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--header", action="append", default=[], help="'Name: value'")
    parser.add_argument("--rate", type=float, default=300, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="time counted")
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    figures = asyncio.run(load(args.url, args.header, args.rate, args.seconds, args.connections))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
