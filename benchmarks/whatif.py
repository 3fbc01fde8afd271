"""What one what-if costs (DESIGN §10), against one full evaluation of the same engine.

A what-if re-derives the base and the hypothetical picture from copies of the evidence, builds
both snapshots and derives the hypothetical incidents, so it should cost a few full evaluations.
Scenarios on the synthetic federations of ``engine_evaluation``: a hub down, and a hub plus a
ring link (1k, 10k by default). Each figure is the median over ``--rounds`` and is printed as a
ratio to a full evaluation (``evaluate`` after the evidence of a link cut) measured in the same
run. Run: ``python -m benchmarks.whatif [--sizes 1000,10000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator

from benchmarks.engine_evaluation import synthetic_registry
from benchmarks.incident_derivation import START, Federation
from monitor.service.aggregator import WHATIF_COPY_CHUNK
from monitor.status.evidence import CenterRecord
from monitor.status.whatif import scenario

CHUNK = WHATIF_COPY_CHUNK


def _chunks(fed: Federation, size: int) -> Iterator[Iterator[dict[str, CenterRecord]]]:
    """The engine's evidence copies, one chunk per item (timed one at a time)."""
    copies = fed.engine.copy_evidence(size)
    for _ in range(0, len(fed.registry.centers), size):
        yield copies


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


def measure(size: int, rounds: int) -> None:
    """Print the what-if figures for a federation of about ``size`` centers."""
    registry = synthetic_registry(size)
    fed = Federation(registry, incidents=True)
    evaluations = []
    for i in range(2 * rounds):
        fed.toggle_link("p-1", "p-2", START + i)
        evaluations.append(fed.timed_evaluation(START + i))
    baseline = _median(evaluations)
    now = START + 2 * rounds
    fed.engine.evaluate(now)
    questions = {
        "hub-0 down": scenario(fed.engine.index, down=["hub-0"]),
        "hub-0 down + p-1--p-2 cut": scenario(
            fed.engine.index, down=["hub-0"], cut=[["p-1", "p-2"]]
        ),
        "hub-0 down, healthy base": scenario(fed.engine.index, down=["hub-0"], base="healthy"),
    }
    print(
        f"{len(registry.centers):>6} centers: one full evaluation {baseline * 1000:.1f} ms "
        "(baseline, median)"
    )
    for name, question in questions.items():
        copies, answers = [], []
        changes = 0
        for _ in range(rounds):
            evidence: dict[str, CenterRecord] = {}
            longest = 0.0
            for part in _chunks(fed, CHUNK):
                started = time.perf_counter()
                evidence.update(next(part))
                longest = max(longest, time.perf_counter() - started)
            job = fed.engine.what_if(question, now, evidence)
            copied = time.perf_counter()
            outcome = job()
            done = time.perf_counter()
            copies.append(longest)
            answers.append(done - copied)
            changes = len(outcome.changes)
        on_loop, off_loop = _median(copies), _median(answers)
        print(
            f"{'':>6}  {name}: {changes} statuses change; longest turn of the loop copying the "
            f"evidence ({CHUNK} records a turn, as the aggregator does) {on_loop * 1000:.1f} ms = "
            f"{on_loop / baseline:.2f}x; answer in a worker thread "
            f"{off_loop * 1000:.1f} ms = {off_loop / baseline:.1f}x"
        )


def main() -> None:
    """Run the scenarios at the requested sizes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size, args.rounds)


if __name__ == "__main__":
    main()
