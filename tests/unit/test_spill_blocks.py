"""The spill shard format and the block plan."""

import itertools

import numpy as np
import pytest
from scipy import sparse

from cellucid_cloud.export.blocks import BlockPlan, plan_blocks
from cellucid_cloud.export.errors import PrepareError
from cellucid_cloud.export.spill import read_section, shard_offsets, shard_parts


def test_a_shard_holds_each_gene_block_of_every_record() -> None:
    rng = np.random.default_rng(0)
    x = sparse.random(23, 17, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    record_rows, gene_edges = 7, [0, 5, 6, 17]
    records = [sparse.csc_matrix(x[start : start + record_rows]) for start in range(0, 23, 7)]
    parts, offsets = shard_parts(records, gene_edges)
    shard = b"".join(bytes(part) for part in parts)
    assert len(shard) == offsets[-1] and all(offset % 8 == 0 for offset in offsets)
    assert shard_offsets(shard, 3, "test").tolist() == offsets
    first_rows = np.arange(0, 23, record_rows, dtype=np.int64)
    for block, (first, last) in enumerate(itertools.pairwise(gene_edges)):
        section = read_section(
            shard[offsets[block] : offsets[block + 1]], last - first, first_rows, "t"
        )
        dense = np.zeros((23, last - first), np.float32)
        entries = section.entries
        at = 0
        for record, start in enumerate(entries.first_rows):
            for gene in range(last - first):
                count = int(entries.counts[record, gene])
                rows = start + entries.rows[at : at + count]
                dense[rows, gene] = entries.values[at : at + count]
                at += count
        expected = x[:, first:last].toarray()
        assert np.array_equal(dense, expected)
        stored = expected != 0
        low = np.where(stored.any(axis=0), np.where(stored, expected, np.inf).min(axis=0), np.inf)
        assert np.array_equal(section.minimum, low)


def test_a_shard_of_another_plan_is_refused() -> None:
    records = [sparse.csc_matrix(np.eye(4, dtype=np.float32))]
    parts, _ = shard_parts(records, [0, 2, 4])
    shard = b"".join(bytes(part) for part in parts)
    with pytest.raises(PrepareError, match="another plan's layout"):
        shard_offsets(shard, 3, "s")
    with pytest.raises(PrepareError, match="not a spill shard"):
        shard_offsets(b"x" * len(shard), 2, "s")


def test_row_blocks_are_cut_by_stored_entries() -> None:
    per_row = np.array([5, 5, 5, 100, 5, 5, 0, 0, 5], np.int64)
    plan = plan_blocks(
        (9, 10), "csr", bits=8, memory_per_worker=12 * 24, row_entries=per_row, block_genes=4
    )
    assert plan.row_edges == (0, 2, 3, 5, 9)
    assert plan.gene_edges == (0, 4, 8, 10)
    for index in range(plan.n_row_blocks):
        start, stop = plan.rows(index)
        assert per_row[start:stop].sum() <= 12 + per_row[start:stop].max()


def plan_200k(entries_per_row: int, workers: int = 1) -> BlockPlan:
    """The plan of a 200,000 x 2,000 CSR X with the default 128 MiB per worker."""
    return plan_blocks(
        (200_000, 2_000),
        "csr",
        bits=8,
        memory_per_worker=128 << 20,
        row_entries=np.full(200_000, entries_per_row),
        workers=workers,
    )


@pytest.mark.parametrize("workers", [2, 3])
def test_each_step_has_blocks_for_every_worker(workers: int) -> None:
    """7 row blocks on 2 workers would leave one worker idle for the last block's time."""
    plan, alone = plan_200k(170, workers), plan_200k(170)
    assert alone.n_row_blocks == 7 and alone.n_gene_blocks == 10
    assert plan.n_gene_blocks % workers == 0 and plan.n_row_blocks % workers == 0
    assert alone.n_gene_blocks <= plan.n_gene_blocks < alone.n_gene_blocks + workers
    assert alone.n_row_blocks <= plan.n_row_blocks < alone.n_row_blocks + workers


def test_row_blocks_are_equal_when_the_last_would_be_small() -> None:
    """40 M entries in blocks of at most 5.6 M: 7 full blocks and one of 0.9 M would leave a
    worker waiting for most of a block at the end of the step; 8 of 5 M do not."""
    plan = plan_200k(200, workers=2)
    sizes = np.diff(plan.row_edges)
    assert plan.n_row_blocks == 8 and sizes.max() - sizes.min() <= 1


def test_gene_blocks_fit_the_memory_of_a_worker() -> None:
    sparse_plan = plan_blocks(
        (1_000_000, 20_000),
        "csr",
        bits=8,
        memory_per_worker=128 << 20,
        row_entries=np.full(1_000_000, 1_000),
    )
    dense_plan = plan_blocks((1_000_000, 20_000), "dense", bits=8, memory_per_worker=128 << 20)
    assert sparse_plan.genes(0) == (0, 61)  # 1 B of code + 4 x 5 % of 6 B per cell and gene
    assert dense_plan.genes(0) == (0, 19)  # 1 B of code + 6 B per cell and gene
    assert sparse_plan.n_row_blocks == 179  # 5.6 M entries of 24 B each
    assert dense_plan.n_row_blocks == 3577
