"""Benchmark the timer worker: a million pending deadlines, and a burst falling due in one second.

    python3 -m bench.deadlines [--pending 1000000] [--burst 10000]

Loads the deadlines into a database of its own (filed in hourly buckets, as the workflow's
relay files them), starts a real timer worker process on a RabbitMQ virtual host of its
own, and consumes what it sends. Prints the firing lag of the burst (p50, p99), its rate
beside the broker's raw publish rate measured in the same run, and the worker's peak RSS;
writes the same figures to bench/results/deadlines-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from itertools import groupby
from pathlib import Path

import dramatiq
import pika
from pymongo import MongoClient

from services.runtime.bootstrap import amqp_parameters, make_broker
from services.runtime.deadline_book import bucket_of
from shared.config import Settings
from shared.contracts.queues import COMMANDS_QUEUE
from tooling.provision import ensure_infrastructure
from tooling.vhosts import create_vhost, delete_vhost

RESULTS = Path(__file__).resolve().parent / "results"
#: Seconds between starting the timer worker and the burst falling due.
BURST_AFTER = 25.0
INSERT_CHUNK = 10_000


def load(db, pending: int, burst: int, burst_at: datetime) -> float:
    """File ``pending`` deadlines (``burst`` of them due at ``burst_at``); returns seconds taken."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    far = sorted(rng.uniform(180, 14 * 86_400) for _ in range(pending - burst))
    dues = [now + timedelta(seconds=s) for s in far] + [burst_at] * burst
    started = time.monotonic()
    done = reported = 0
    for name, group in groupby(sorted(dues), key=bucket_of):
        batch = []
        for due in group:
            batch.append(
                {
                    "_id": f"{uuid.uuid4().hex}:2:confirmation_window",
                    "delivery_id": uuid.uuid4().hex,
                    "kind": "confirmation_window",
                    "status": "active",
                    "due_at": due,
                }
            )
            if len(batch) == INSERT_CHUNK:
                db[name].insert_many(batch, ordered=False)
                done += len(batch)
                batch = []
        if batch:
            db[name].insert_many(batch, ordered=False)
            done += len(batch)
        if done >= reported + 100_000 or done == pending:
            print(f"  loaded {done:,} of {pending:,}", flush=True)
            reported = done
    return time.monotonic() - started


def raw_publish_rate(broker, count: int) -> float:
    """Messages per second the broker confirms, publishing as the timer worker does."""
    queue = "bench.raw_publish"
    broker.declare_queue(queue, ensure=True)
    message = dramatiq.Message(
        queue_name=queue,
        actor_name="noop",
        args=({"command_id": "expire:" + "x" * 60, "payload": "y" * 200},),
        kwargs={},
        options={},
    )
    started = time.monotonic()
    for _ in range(count):
        broker.enqueue(message)
    return count / (time.monotonic() - started)


def consume(
    amqp_url: str, expected: int, burst_at: float, arrivals: list[float], stop: threading.Event
):
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=1000)
    for _, _, body in channel.consume(COMMANDS_QUEUE, auto_ack=True, inactivity_timeout=0.5):
        if body is not None:
            arrivals.append(time.time())
        if len(arrivals) >= expected or stop.is_set():
            break
    connection.close()


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=10_000)
    args = parser.parse_args()

    settings = Settings()
    ensure_infrastructure(settings)
    name = f"dc_bench_{uuid.uuid4().hex[:10]}"
    amqp_url = create_vhost(settings.amqp_url, name)
    client = MongoClient(settings.mongo_url, tz_aware=True)
    db = client[name]
    timer = None
    try:
        broker = make_broker(settings.model_copy(update={"amqp_url": amqp_url}))
        broker.declare_queue(COMMANDS_QUEUE, ensure=True)
        raw_rate = raw_publish_rate(broker, 5_000)
        print(f"loading {args.pending:,} deadlines weeks away, {args.burst:,} due in one second")
        load_seconds = load(db, args.pending, 0, datetime.now(UTC))
        # The burst is due a fixed time after loading ends, however long loading took.
        burst_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=BURST_AFTER)
        burst_seconds = load(db, args.burst, args.burst, burst_at)

        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DC_")},
            "DC_AMQP_URL": amqp_url,
            "DC_MONGO_URL": settings.mongo_url,
            "DC_MONGO_DB": name,
            "DC_TIMER_POLL_INTERVAL": "1",
        }
        timer = subprocess.Popen([sys.executable, "-m", "services.timers"], env=env)
        arrivals: list[float] = []
        stop = threading.Event()
        consumer = threading.Thread(
            target=consume, args=(amqp_url, args.burst, burst_at.timestamp(), arrivals, stop)
        )
        consumer.start()
        peak = 0.0
        give_up = time.time() + BURST_AFTER + 180
        while consumer.is_alive() and time.time() < give_up:
            peak = max(peak, rss_mib(timer.pid))
            time.sleep(0.1)
        stop.set()
        consumer.join()
        peak = max(peak, rss_mib(timer.pid, "VmHWM"))

        lags = sorted(a - burst_at.timestamp() for a in arrivals)
        spread = (max(arrivals) - min(arrivals)) if len(arrivals) > 1 else 0.0
        burst_rate = len(arrivals) / spread if spread else float("nan")
        figures = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "pending": args.pending,
            "burst": args.burst,
            "fired": len(arrivals),
            "load_seconds": round(load_seconds + burst_seconds, 1),
            "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
            "lag_p99_s": round(lags[int(0.99 * (len(lags) - 1))], 3) if lags else None,
            "lag_max_s": round(lags[-1], 3) if lags else None,
            "burst_rate_per_s": round(burst_rate, 1),
            "broker_raw_publish_per_s": round(raw_rate, 1),
            "burst_rate_vs_raw": round(burst_rate / raw_rate, 2) if raw_rate else None,
            "timer_peak_rss_mib": round(peak, 1),
        }
        width = max(map(len, figures))
        for key, value in figures.items():
            print(f"{key:<{width}}  {value}")
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"deadlines-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
        out.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"written to {out}")
        if len(arrivals) < args.burst:
            sys.exit(f"only {len(arrivals)} of {args.burst} deadlines fired")
    finally:
        if timer is not None:
            timer.terminate()
            timer.wait(timeout=20)
        client.drop_database(name)
        client.close()
        delete_vhost(settings.amqp_url, name)


if __name__ == "__main__":
    main()
