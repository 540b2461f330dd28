"""Each rank's part of every global batch.

fit's `batch_size` is the global batch (Keras's meaning). All ranks use one order: each draws
the epoch's permutation from its own grebe.random generator, as one process would, and then
takes rank 0's (a broadcast), so the order cannot differ even when the ranks' generators have
(no seed set, or dropout drawing for shards of different sizes). Global batch [lo, hi) of that
order is cut into `size` contiguous parts, rank r taking part r; the parts differ by at most one
sample and only the last batch can be uneven (or, with fewer samples than ranks, empty: the
rank then still joins the gradient sum, with nothing to add).

evaluate and predict cut their batches the same way (without shuffling), so every rank runs the
same number of steps and predict's outputs go back into data order by index.
"""
from __future__ import annotations

import numpy as np

from grebe import tree
from grebe.models import data_adapter


def part(lo: int, hi: int, rank: int, size: int) -> tuple:
    """Rank `rank`'s contiguous part [a, b) of [lo, hi) cut into `size` near-equal parts."""
    m = hi - lo
    base, extra = divmod(m, size)
    a = lo + rank * base + min(rank, extra)
    return a, a + base + (1 if rank < extra else 0)


class ShardedArrayAdapter(data_adapter.ArrayAdapter):
    """An ArrayAdapter whose batches are this rank's part of each global batch."""

    def __init__(self, base: data_adapter.ArrayAdapter, dist):
        self.__dict__.update(base.__dict__)
        self._buffers = None
        self.dist = dist

    def _order(self, count: int):
        perm = data_adapter._rng().permutation(count).astype(np.int64)
        self.dist.broadcast_array(perm, "the shuffle order")
        return perm

    def __iter__(self):
        bs, n, dist = self.batch_size, self.n, self.dist
        if self.shuffle == "batch":
            batches, order = self._order(self.num_batches), None
        else:
            batches = range(self.num_batches)
            order = self._order(n) if self.shuffle else None
        self.parts = []  # (a, z) in data order, for predict's gather (unshuffled)
        for k, b in enumerate(batches):
            lo, hi = b * bs, min((b + 1) * bs, n)
            a, z = part(lo, hi, dist.rank, dist.size)
            dist.set_batch_share(z - a, hi - lo)
            self.parts.append((a, z))
            self.last_batch = (a, order)
            if order is None:
                yield self._pack([None if v is None else v[a:z] for v in self._leaves])
            else:
                yield self._gather(order[a:z], k)
        dist.set_batch_share(None, None)


class ShardedIterable:
    """Batches of a generator or dataset that yields the same global batches on every rank:
    each rank keeps its part of each batch. (The batch count must agree; the watchdog ends a
    job whose ranks ran out at different steps.)"""

    reiterable = True

    def __init__(self, base, dist):
        self.base, self.dist = base, dist
        self.reiterable = base.reiterable
        self.num_batches = base.num_batches

    def __iter__(self):
        dist, seen = self.dist, 0
        self.parts = []
        for batch in self.base:
            m = len(tree.flatten(batch)[0])
            a, z = part(0, m, dist.rank, dist.size)
            dist.set_batch_share(z - a, m)
            self.parts.append((seen + a, seen + z))
            seen += m
            yield tree.map_structure(lambda v: None if v is None else v[a:z], batch)
        dist.set_batch_share(None, None)


def shard(adapter, dist):
    if adapter is None:
        return None
    if isinstance(adapter, data_adapter.ArrayAdapter):
        return ShardedArrayAdapter(adapter, dist)
    return ShardedIterable(adapter, dist)
