"""``capacity.source: slurm``: parse ``scontrol show node --oneliner``.

One line per node, so a node in several partitions is counted once (``sinfo``'s per-partition
summaries would count it twice). CPUs are split the way ``sinfo -o %C`` does: allocated, idle,
other (on nodes that are down, drained or failing) and total; only idle CPUs are available. GPUs
come from the node's GRES (``Gres=gpu[:type]:N``), the allocated ones from ``AllocTRES`` (or the
``GresUsed`` field older Slurm versions print); memory from ``RealMemory`` and ``AllocMem`` (MiB).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from agents.capacity import CapacityReading, CapacitySourceError
from agents.capacity.command import run_program
from agents.protocol import Resource

MIB: Final = 1024 * 1024
# Any of these state flags takes a node's resources out of what jobs can get.
UNUSABLE_STATES: Final = frozenset(
    {"DOWN", "DRAIN", "DRAINED", "DRAINING", "FAIL", "FAILING", "NOT_RESPONDING", "MAINT",
     "FUTURE", "INVAL", "UNKNOWN", "REBOOT_ISSUED"}
)  # fmt: skip
_KEY: Final = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)=(.*)$")
_GRES_GPU: Final = re.compile(r"(?:^|,)gpu(?::[^:,()]+)?:(\d+)")
_TRES_GPU: Final = re.compile(r"(?:^|,)gres/gpu=(\d+)")


@dataclass(frozen=True, slots=True)
class SlurmNode:
    """What the capacity needs from one node."""

    name: str
    states: frozenset[str]
    cpus_total: int
    cpus_allocated: int
    memory_mib: int
    memory_allocated_mib: int
    gpus_total: int
    gpus_allocated: int

    @property
    def usable(self) -> bool:
        """Whether jobs can be scheduled on it (not down, drained, failing…)."""
        return not self.states & UNUSABLE_STATES


@dataclass(frozen=True, slots=True)
class SlurmCpus:
    """CPU counts as ``sinfo -o %C`` reports them."""

    allocated: int
    idle: int
    other: int
    total: int


def node_fields(line: str) -> dict[str, str]:
    """Split one ``scontrol --oneliner`` line into fields (values may contain spaces)."""
    fields: dict[str, str] = {}
    key = ""
    for token in line.split():
        match = _KEY.match(token)
        if match:
            key = match.group(1)
            fields[key] = match.group(2)
        elif key:
            fields[key] += " " + token
    return fields


def parse_nodes(text: str) -> list[SlurmNode]:
    """Parse ``scontrol show node --oneliner`` output.

    Raises:
        CapacitySourceError: when the output has no node or a node lacks a needed field.
    """
    nodes = [_node(fields) for fields in _records(text)]
    if not nodes:
        raise CapacitySourceError("scontrol listed no node")
    return nodes


def _records(text: str) -> Iterator[dict[str, str]]:
    for line in text.splitlines():
        if line.strip():
            fields = node_fields(line)
            if "NodeName" not in fields:
                raise CapacitySourceError(f"not a scontrol node line: {line[:80]!r}")
            yield fields


def _node(fields: dict[str, str]) -> SlurmNode:
    name = fields["NodeName"]
    try:
        cpus_total = int(fields.get("CPUTot") or fields["CPUEfctv"])
        cpus_allocated = int(fields.get("CPUAlloc", "0"))
        memory = int(fields.get("RealMemory", "0"))
        memory_allocated = int(fields.get("AllocMem", "0"))
    except (KeyError, ValueError) as exc:
        raise CapacitySourceError(f"node {name}: missing or bad CPU/memory field ({exc})") from exc
    gpus_total = sum(int(n) for n in _GRES_GPU.findall(_strip_null(fields.get("Gres", ""))))
    tres = _TRES_GPU.search(fields.get("AllocTRES", ""))
    if tres:
        gpus_allocated = int(tres.group(1))
    else:
        used = _strip_null(fields.get("GresUsed", ""))
        gpus_allocated = sum(int(n) for n in _GRES_GPU.findall(re.sub(r"\([^)]*\)", "", used)))
    states = frozenset(s.rstrip("*~#%$@!^-") for s in fields.get("State", "UNKNOWN").split("+"))
    return SlurmNode(
        name=name,
        states=states,
        cpus_total=cpus_total,
        cpus_allocated=min(cpus_allocated, cpus_total),
        memory_mib=memory,
        memory_allocated_mib=min(memory_allocated, memory),
        gpus_total=gpus_total,
        gpus_allocated=min(gpus_allocated, gpus_total),
    )


def _strip_null(value: str) -> str:
    return "" if value in ("(null)", "N/A") else value


def cpu_counts(nodes: list[SlurmNode]) -> SlurmCpus:
    """Allocated/idle/other/total CPUs, counting every CPU of an unusable node as other."""
    allocated = idle = other = 0
    for node in nodes:
        if node.usable:
            allocated += node.cpus_allocated
            idle += node.cpus_total - node.cpus_allocated
        else:
            other += node.cpus_total
    return SlurmCpus(allocated, idle, other, allocated + idle + other)


def reading_from_nodes(nodes: list[SlurmNode]) -> CapacityReading:
    """The capacity of a cluster: totals over all nodes, availability over usable ones."""
    cpus = cpu_counts(nodes)
    usable = [n for n in nodes if n.usable]
    gpus_total = sum(n.gpus_total for n in nodes)
    return CapacityReading(
        cpu_cores=Resource(total=cpus.total, available=cpus.idle),
        gpus=(
            Resource(
                total=gpus_total,
                available=sum(n.gpus_total - n.gpus_allocated for n in usable),
            )
            if gpus_total
            else None
        ),
        memory_bytes=Resource(
            total=sum(n.memory_mib for n in nodes) * MIB,
            available=sum(n.memory_mib - n.memory_allocated_mib for n in usable) * MIB,
        ),
    )


class SlurmSource:
    """Runs ``scontrol show node --oneliner`` and sums the cluster's capacity."""

    name = "slurm"

    def __init__(self, scontrol: tuple[str, ...], timeout_s: float) -> None:
        self._argv = (*scontrol, "show", "node", "--oneliner")
        self._timeout_s = timeout_s

    async def read(self) -> CapacityReading:
        """Query Slurm now."""
        output = await run_program(self._argv, self._timeout_s)
        return reading_from_nodes(parse_nodes(output.decode("utf-8", "replace")))
