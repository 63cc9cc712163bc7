"""Federation benchmark: envelopes per second between two local nodes, each envelope
signed (JWS EdDSA over RFC 8785 JSON) and queued in the sender's outbox, posted over
HTTP, verified by the receiver against the signed registry, stored idempotently in its
inbox, logged in both message logs and both ledgers' outboxes, and receipted (the
receipt verified and stored by the sender) -- against the limit: raw HTTP round trips
per second of the same client (httpx) and server (uvicorn + FastAPI) doing nothing.

    .venv/bin/python bench/federation_envelopes.py [--n 5000] [--batch 200] [--single 500]

The receiver is a real `tongban serve` process on loopback (SQLite, its worker running);
the sender is this process acting as its node's worker. Reported: envelopes/s batched
(the worker posts up to --batch envelopes per request), envelopes/s one per request,
raw round trips/s, their ratios, and the ratio to X-Road's ≈110 messages/s (a user's
measurement with two security servers behind a load balancer, research/exchange.md §1.6).
Goal (issue 5): >= 1,000 envelopes/s and >= 9x X-Road.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from serving import free_port  # bench/, on the path when run as a script
from sqlalchemy import func, select

from tongban.db import make_engine, make_sessionmaker, transaction
from tongban.federation import demo, service, transport
from tongban.node.keyring import keyring
from tongban.outbox.models import OutboxMessage

XROAD_PER_SECOND = 110.0
REGIONS: list[tuple[str, str, int, str | None]] = [
    ("100000", "中华人民共和国", 1, None), ("510000", "四川省", 2, "100000"),
    ("510100", "成都市", 3, "510000"), ("510104", "锦江区", 4, "510100"),
    ("310000", "上海市", 2, "100000"), ("310115", "浦东新区", 4, "310000"),
]
EMPTY_CATALOG = {"format": "tongban-catalog/1", "departments": [], "items": [],
                 "implementations": []}

echo_app = FastAPI()


@echo_app.post("/echo")
async def echo(request: Request) -> dict[str, bool]:
    """The limit: read the body, answer JSON; no signing, no storage."""
    await request.body()
    return {"ok": True}


def wait_up(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def enqueue(factory: object, settings: object, n: int, start: int) -> None:
    """Queue n signed ping envelopes to 上海 (part of the measured work)."""
    for k in range(0, n, 1000):
        with transaction(factory) as s:  # type: ignore[arg-type]
            for i in range(start + k, start + min(n, k + 1000)):
                service.send(db_session=s, settings=settings, receiver="310000",  # type: ignore[arg-type]
                             kind="ping", payload={"n": i, "note": "跨省通办 benchmark"},
                             case_id=f"bench-{i}", user_id="bench")


def deliver_all(factory: object, settings: object, batch: int) -> int:
    """Run the sender's delivery step until the outbox is empty; returns receipts."""
    done = 0
    while True:
        with transaction(factory) as s:  # type: ignore[arg-type]
            report = transport.deliver_pending(db_session=s, settings=settings,  # type: ignore[arg-type]
                                               limit=2000, batch=batch)
        done += report.delivered
        if report.failed:
            raise RuntimeError(report.errors[:3])
        if report.delivered == 0:
            return done


def exchange(factory: object, settings: object, n: int, batch: int, start: int) -> float:
    """Envelopes per second: sign + queue + deliver + verify + store + receipt."""
    began = time.perf_counter()
    enqueue(factory, settings, n, start)
    queued = time.perf_counter()
    delivered = deliver_all(factory, settings, batch)
    elapsed = time.perf_counter() - began
    assert delivered == n, (delivered, n)
    print(f"  {n} envelopes, batch {batch}: sign+queue {queued - began:.2f} s, "
          f"deliver+verify+store+receipt {elapsed - (queued - began):.2f} s", flush=True)
    return n / elapsed


def raw_round_trips(url: str, body: bytes, n: int) -> float:
    with httpx.Client(timeout=10.0) as http:
        http.post(url, content=body)
        began = time.perf_counter()
        for _ in range(n):
            http.post(url, content=body)
        return n / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--single", type=int, default=500, help="envelopes sent one per request")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="tongban-bench-fed-"))
    print("preparing two nodes …", flush=True)
    specs = demo.prepare(base=base, count=2, ports=[free_port(), free_port()],
                         catalog_doc=EMPTY_CATALOG, regions=REGIONS)
    sender, receiver = specs
    echo_port = free_port()
    procs = [demo.start(receiver),
             subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir",
                               str(Path(__file__).parent), "federation_envelopes:echo_app",
                               "--host", "127.0.0.1", "--port", str(echo_port),
                               "--log-level", "warning"])]
    try:
        demo.wait_healthy(receiver)
        wait_up(f"http://127.0.0.1:{echo_port}/docs")
        engine = make_engine(sender.settings.database_url, keys=keyring(sender.settings))
        factory = make_sessionmaker(engine)
        exchange(factory, sender.settings, 200, args.batch, 0)  # warm-up
        batched = exchange(factory, sender.settings, args.n, args.batch, 1_000_000)
        single = exchange(factory, sender.settings, args.single, 1, 2_000_000)
        with factory() as s:
            token = service.open_token(sender.settings, s.scalars(
                select(OutboxMessage).where(OutboxMessage.topic == "federation")
                .limit(1)).one().payload["token"])
            queued = s.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.topic == "federation", OutboxMessage.delivered_at.is_(None)))
        raw = raw_round_trips(f"http://127.0.0.1:{echo_port}/echo", token.encode(), 2000)
        print(f"envelope size                      {len(token)} bytes")
        print(f"envelopes/s, batches of {args.batch:<4}       {batched:10,.0f}")
        print(f"envelopes/s, one per request       {single:10,.0f}")
        print(f"raw HTTP round trips/s (the limit) {raw:10,.0f}")
        print(f"ratio batched / raw                {batched / raw:10.2f}")
        print(f"ratio one-per-request / raw        {single / raw:10.2f}")
        print(f"ratio batched / X-Road (≈110/s)    {batched / XROAD_PER_SECOND:10.1f}x")
        print(f"ratio one-per-request / X-Road     {single / XROAD_PER_SECOND:10.1f}x")
        print(f"goal >= 1,000/s: {'met' if batched >= 1000 else 'NOT met'}; left queued: "
              f"{queued}")
        engine.dispose()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
