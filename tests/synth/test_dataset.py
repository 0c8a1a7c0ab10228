"""Torch datasets: item format, slot order, worker-count independence, epochs."""
import numpy as np
import torch

from synth_corpus import scene_config
from espnet2_ext.s5.labels import SILENCE
from espnet2_ext.synth.dataset import GenerateDataset
from espnet2_ext.tasks.iter_factory import s5_collate
from espnet2_ext.tasks.s5_data import EspnetItems


def official_config(**over):
    cfg = {"spatial_sound_scene": scene_config(duration=1.0), "dupse_rate": 0.5, "dupse_min_angle": 60.0,
           "max_n_dupse": 2, "dupse_exclusion_folder_depth": 1, "snr_range": [5, 20],
           "nevent_range": [0, 3], "ninterference_range": [0, 2], "inteference_snr_range": [0, 15],
           "dataset_length": 6, "shuffle_label": True, "fg_return": {"dry": True, "dry_channel": 0}}
    cfg.update(over)
    return cfg


def test_item_format_and_slot_order(tiny_corpus):
    ds = GenerateDataset(official_config(), tiny_corpus, label_vector_mode="concat", seed=3)
    assert len(ds) == 6
    for i in range(len(ds)):
        item = ds[i]
        assert item["mixture"].shape == (4, 8000) and item["mixture"].dtype == torch.float32
        assert item["dry_sources"].shape == (3, 1, 8000) and item["label_vector"].shape == (54,)
        scene, order = ds.scene(i)
        labels = [scene.fg_events[k].label for k in order]
        assert item["labels"] == labels + [SILENCE] * (3 - len(labels))
        rendered = ds.renderer.render(scene)
        np.testing.assert_array_equal(item["dry_sources"][:len(order)].numpy(), rendered.dry[order])
        assert not item["dry_sources"][len(order):].any()
        for k, lab in enumerate(item["labels"]):
            assert item["label_vector"].reshape(3, 18)[k].sum() == (0 if lab == SILENCE else 1)
    at = GenerateDataset(official_config(), tiny_corpus, label_vector_mode="stack", return_source=False)
    item = at[0]
    assert item["label_vector"].shape == (3, 19) and "dry_sources" not in item
    assert item["label_vector"].sum(-1).tolist() == [1.0, 1.0, 1.0]


def test_items_do_not_depend_on_worker_count_and_change_with_epoch(tiny_corpus):
    """Through the path training uses: the espnet view of the items and the task's one collate."""
    names = ("mixture", "label_vector", "dry_sources")
    ds = EspnetItems(GenerateDataset(official_config(), tiny_corpus, seed=11), names)

    def run(workers):
        loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=s5_collate)
        return [b for b in loader]

    a, b = run(0), run(2)
    for (ids_x, x), (ids_y, y) in zip(a, b):
        assert ids_x == ids_y and all(torch.equal(x[k], y[k]) for k in names)
    assert a[0][1]["mixture"].shape == (2, 4, 8000) and len(a[0][0]) == 2
    ds.set_epoch(1)
    c = run(0)
    assert not torch.equal(a[0][1]["mixture"], c[0][1]["mixture"])
    ds.set_epoch(0)
    assert torch.equal(run(0)[0][1]["mixture"], a[0][1]["mixture"])


def test_items_carry_the_slots_activity_from_the_event_times_only_when_asked(tiny_corpus):
    from espnet2_ext.s5.activity import ACTIVITY_HOP, interval_activity, n_activity_frames

    plain = GenerateDataset(official_config(), tiny_corpus, label_vector_mode="stack", seed=3)
    ds = GenerateDataset(official_config(), tiny_corpus, label_vector_mode="stack", seed=3, return_activity=True)
    assert "activity" not in plain[0]
    n_active = 0
    for i in range(len(ds)):
        item = ds[i]
        torch.testing.assert_close(item["mixture"], plain[i]["mixture"], rtol=0, atol=0)
        scene, order = ds.scene(i)
        act = item["activity"]
        assert act.shape == (3, n_activity_frames(item["mixture"].shape[-1])) and act.dtype == torch.float32
        for slot, k in enumerate(order):
            ev = scene.fg_events[k]
            expected = interval_activity([ev.event_time], [ev.event_duration], item["mixture"].shape[-1], scene.sr)[0]
            np.testing.assert_array_equal(act[slot].numpy(), expected)
            assert act[slot].any()
            n_active += 1
            # the slot's dry source sounds only in the frames marked active
            dry = item["dry_sources"][slot, 0].numpy()
            off = np.repeat(act[slot].numpy(), ACTIVITY_HOP)[:dry.shape[-1]] == 0
            assert np.sum(dry[off] ** 2) < 0.01 * np.sum(dry ** 2)
        assert not act[len(order):].any()
    assert n_active > 0
