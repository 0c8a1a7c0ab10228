import numpy as np
import pytest

from espnet2_ext.tasks.iter_factory import S5IterFactory, s5_collate


class EpochDataset:
    """Item i of epoch e is the value 100*e + i (a pure function of (epoch, index))."""

    def __init__(self, n):
        self.n, self.epoch = n, 0

    def set_epoch(self, e):
        self.epoch = e

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return f"utt{i}", {"x": np.full((2,), 100 * self.epoch + i, dtype=np.float32)}


def values(factory, epoch):
    return [b["x"][:, 0].tolist() for _, b in factory.build_iter(epoch)]


def test_batches_follow_epoch_and_index():
    f = S5IterFactory(EpochDataset(5), batch_size=2)
    assert values(f, 1) == [[100, 101], [102, 103], [104]]
    assert values(f, 2) == [[200, 201], [202, 203], [204]]


def test_items_do_not_depend_on_worker_count():
    a = S5IterFactory(EpochDataset(6), batch_size=3, num_workers=0)
    b = S5IterFactory(EpochDataset(6), batch_size=3, num_workers=2)
    assert values(a, 3) == values(b, 3)


def test_ddp_batch_size_is_per_rank_and_ranks_take_disjoint_items():
    ds = EpochDataset(8)
    r0 = S5IterFactory(ds, batch_size=2, rank=0, world_size=2).batches(1)
    r1 = S5IterFactory(ds, batch_size=2, rank=1, world_size=2).batches(1)
    assert r0 == [[0, 2], [4, 6]] and r1 == [[1, 3], [5, 7]]


@pytest.mark.parametrize("n, world, batch", [(7, 2, 2), (5, 3, 1), (2, 4, 3), (10, 3, 4)])
def test_training_pads_so_ranks_run_equal_steps_and_cover_the_epoch(n, world, batch):
    shares = [S5IterFactory(EpochDataset(n), batch_size=batch, rank=r, world_size=world).batches(1)
              for r in range(world)]
    assert len({len(s) for s in shares}) == 1, "DDP needs the same number of steps on every rank"
    seen = [i for s in shares for b in s for i in b]
    assert set(seen) == set(range(n)) and len(seen) - n < world   # padding repeats < world items


@pytest.mark.parametrize("n, world, batch", [(7, 2, 2), (5, 3, 1), (2, 4, 3), (10, 3, 4)])
def test_validation_sees_every_item_exactly_once_whatever_the_world_size(n, world, batch):
    seen = [i for r in range(world)
            for b in S5IterFactory(EpochDataset(n), batch_size=batch, rank=r, world_size=world,
                                   pad=False).batches(1) for i in b]
    assert sorted(seen) == list(range(n))


def test_shuffle_is_seeded_by_epoch():
    f = S5IterFactory(EpochDataset(10), batch_size=10, shuffle=True, seed=3)
    assert f.batches(1) == f.batches(1)
    assert f.batches(1) != f.batches(2)
    assert sorted(f.batches(1)[0]) == list(range(10))


def test_collate_stacks_arrays_and_keeps_ids():
    uids, batch = s5_collate([("a", {"x": np.zeros((2, 3))}), ("b", {"x": np.ones((2, 3))})])
    assert uids == ["a", "b"] and tuple(batch["x"].shape) == (2, 2, 3)


def test_loader_memory_check_counts_every_loading_process():
    from espnet2_ext.errors import S5InputError
    from espnet2_ext.tasks.s5_data import check_loader_memory

    conf = {"rir_cache_mb": 500, "source_cache_mb": 100}
    msg = check_loader_memory(conf, num_workers=8, ranks_on_node=4, node_mb=64 * 1024)
    # 32 processes x (600 MB caches + 3 x 8.5 MB batch of one 10-s item + 96 MB buffers)
    assert "4 rank(s) on this node x 8 process(es)" in msg and "22.6 GB" in msg
    # the batch counts: 32 items of 7 x 320,000 float32 = 273 MB, three copies, + 96 MB
    big = check_loader_memory(conf, num_workers=8, ranks_on_node=1, node_mb=64 * 1024, batch_size=32)
    assert "batches and buffers 916 MB" in big
    assert "1 process(es)" in check_loader_memory(conf, num_workers=0, ranks_on_node=1, node_mb=4096)
    with pytest.raises(S5InputError, match="more than 80 %.*num_workers"):
        check_loader_memory(conf, num_workers=8, ranks_on_node=4, node_mb=20 * 1024)
