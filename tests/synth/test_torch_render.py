"""Rendering on the training device: the torch path equals the CPU renderer and the float64
reference, the device cache stays within its bound, the option goes through dataset +
collate + wrapper, and its config key is checked."""
import numpy as np
import pytest
import torch

from synth_corpus import SR, scene_config
from espnet2_ext.errors import S5InputError
from espnet2_ext.s5.espnet_model_sep import ESPnetS5SeparatorModel
from espnet2_ext.s5.espnet_model_tag import ESPnetS5TaggerModel
from espnet2_ext.s5.loss import loss_choices
from espnet2_ext.synth.dataset import GenerateDataset
from espnet2_ext.synth.room import SofaRoom
from espnet2_ext.synth.sampler import check_generate_config
from espnet2_ext.synth.render import SceneRenderer, render_scene_reference
from espnet2_ext.synth.scene import Event, Scene
from espnet2_ext.synth.torch_render import DeviceRenderer
from espnet2_ext.synth.unrendered import UNRENDERED_KEYS, pad_stack, unrendered_arrays
from espnet2_ext.tasks.iter_factory import s5_collate
from espnet2_ext.tasks.s5_data import build_s5_dataset, device_renderer
from espnet2_ext.tasks.s5_sep import S5SeparationTask
from espnet2_ext.tasks.s5_tag import S5TaggingTask

D = "data/dev_set"
TOL = 2e-6    # of the mixture peak, as tests/synth/test_scene.py


def train_conf(**over):
    conf = {"spatial_sound_scene": scene_config(duration=1.0), "nevent_range": [0, 3], "ninterference_range": [0, 2],
            "dataset_length": 6, "fg_return": {"dry": True, "dry_channel": 0}, "render_on_device": True}
    conf.update(over)
    return conf


def unrendered_batch(dataset, indices, device="cpu"):
    items = [dataset[i] for i in indices]
    return {k: pad_stack([torch.as_tensor(it[k]) for it in items]).to(device) for k in UNRENDERED_KEYS}


def assert_close(got, want, scale):
    np.testing.assert_allclose(got.detach().cpu().numpy(), want, rtol=0, atol=TOL * scale)


def test_batch_equals_cpu_renderer_and_float64_reference(tiny_corpus):
    conf = train_conf()
    cpu = GenerateDataset(dict(conf, render_on_device=False), tiny_corpus, seed=4)
    dev = GenerateDataset(conf, tiny_corpus, seed=4, render_on_device=True)
    batch = unrendered_batch(dev, range(6))
    events = (batch["render_lengths"] > 0).sum(1)
    assert events.min() < events.max(), "the batch should pad some items' events"
    mixture, dry = device_renderer(conf, tiny_corpus).render(batch)
    assert mixture.shape == (6, 4, SR) and dry.shape == (6, 3, 1, SR) and mixture.dtype == torch.float32
    for i in range(6):
        item, (scene, order) = cpu[i], cpu.scene(i)
        ref = render_scene_reference(cpu.renderer, scene)
        scale = np.abs(ref.mixture).max()
        assert_close(mixture[i], item["mixture"].numpy(), scale)
        assert_close(dry[i], item["dry_sources"].numpy(), scale)
        assert_close(mixture[i], ref.mixture, scale)
        assert_close(dry[i, :len(order)], ref.dry[order], scale)
        assert not dry[i, len(order):].any()


def one_room_renderer(corpus, duration, cache_mb=64):
    return DeviceRenderer(corpus, f"{D}/room_ir/train/room_a.sofa", SR, duration, -55, cache_mb)


def test_event_overrunning_the_mixture_keeps_the_level_of_its_full_convolution(tiny_corpus):
    """Onset 1.2 s + a 1.6 s clip in a 2 s mixture: truncated, level over the whole clip."""
    room = SofaRoom.open(tiny_corpus / "dev_set/room_ir/train/room_a.sofa")
    fg = [Event("Speech", "Speech/Speech_loose.wav", 0, onset, 1.6, [room.positions[k].tolist()], 8.0, "foreground")
          for onset, k in ((1.2, 3), (0.1, 7))]
    scene = Scene(config=scene_config("train", 2.0), fg_events=fg, int_events=[], bg_events=[],
                  room_info=room.room_info(f"{D}/room_ir/train/room_a.sofa", [6, 50]))
    cpu = SceneRenderer(tiny_corpus)
    arrays = unrendered_arrays(cpu, scene, [1, 0], room_index=0)
    assert arrays["render_onsets"][0] + arrays["render_lengths"][0] > scene.n_samples
    mixture, dry = one_room_renderer(tiny_corpus, 2.0).render(
        {k: torch.as_tensor(v)[None] for k, v in arrays.items()})
    want, ref = cpu.render(scene), render_scene_reference(cpu, scene)
    scale = np.abs(ref.mixture).max()
    assert_close(mixture[0], want.mixture, scale)
    assert_close(mixture[0], ref.mixture, scale)
    assert_close(dry[0, :2], ref.dry[[1, 0]], scale)     # slot 0 holds fg event 1
    assert not dry[0, 2:].any()


def test_a_batch_without_events_is_its_background(tiny_corpus):
    conf = train_conf(nevent_range=[0, 0], ninterference_range=[0, 0])
    cpu = GenerateDataset(dict(conf, render_on_device=False), tiny_corpus, seed=1)
    batch = unrendered_batch(GenerateDataset(conf, tiny_corpus, seed=1, render_on_device=True), range(2))
    assert batch["render_clips"].shape == (2, 0, 0)
    mixture, dry = device_renderer(conf, tiny_corpus).render(batch)
    assert torch.equal(mixture, batch["render_background"]) and not dry.any()
    assert mixture.abs().max() > 0 and torch.equal(mixture[0], cpu[0]["mixture"])


def test_device_cache_stays_within_its_byte_bound(tiny_corpus):
    conf = train_conf(nevent_range=[3, 3], ninterference_range=[2, 2])
    batch = unrendered_batch(GenerateDataset(conf, tiny_corpus, seed=9, render_on_device=True), range(4))
    roomy = one_room_renderer(tiny_corpus, 1.0)
    want = roomy.render(batch)
    small = one_room_renderer(tiny_corpus, 1.0, cache_mb=0.5)
    got = small.render(batch)
    positions = {tuple(p) for p in batch["render_positions"].reshape(-1, 3).tolist()}
    assert 0 < small.cache.device_bytes() <= 0.5 * 2 ** 20 < roomy.cache.device_bytes()
    assert len(small.cache._spectra._items) < len(positions) <= len(roomy.cache._spectra._items)   # evicted / all kept
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


class RecordingSeparator(torch.nn.Module):
    """separate(mixture, query) -> w * mixture channel 0 in every slot; keeps what it saw."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.5))

    def separate(self, mixture, query):
        self.seen = mixture
        return self.w * mixture[:, :1, None].expand(-1, 3, 1, -1)


class RecordingTagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(4, 3 * 19)

    def forward(self, mixture):
        self.seen = mixture
        return self.head(mixture.pow(2).mean(-1)).reshape(-1, 3, 19)


@pytest.mark.parametrize("task", [S5SeparationTask, S5TaggingTask])
def test_option_round_trips_through_dataset_collate_and_wrapper(tiny_corpus, task):
    conf, names = train_conf(), task.required_data_names(train=True)

    def batch(on_device):
        ds = build_s5_dataset("train", dict(conf, render_on_device=on_device), None, str(tiny_corpus), 2,
                              task.label_vector_mode, names)
        uids, tensors = s5_collate([ds[i] for i in range(4)])
        return dict(tensors, utt_id=uids)    # as espnet2's trainer calls the model

    unrendered, rendered = batch(True), batch(False)
    assert "mixture" not in unrendered and set(UNRENDERED_KEYS) <= set(unrendered)
    assert unrendered["render_clips"].dtype == torch.float32 and unrendered["render_snr"].dtype == torch.float64
    net = RecordingSeparator() if task is S5SeparationTask else RecordingTagger()
    loss = loss_choices.get_class("capi_pit" if task is S5SeparationTask else "label_pit")()
    model = task.espnet_model_class(net, loss, renderer=device_renderer(conf, tiny_corpus))
    assert isinstance(model, (ESPnetS5SeparatorModel, ESPnetS5TaggerModel))
    loss_dev, stats_dev, _ = model(**unrendered)
    seen = net.seen
    loss_cpu, stats_cpu, _ = model(**rendered)
    scale = rendered["mixture"].abs().max().item()
    assert_close(seen, rendered["mixture"].numpy(), scale)
    assert loss_dev.item() == pytest.approx(loss_cpu.item(), rel=1e-4, abs=1e-4)
    loss_dev.backward()    # the rendered inputs carry no graph; the network's parameters get gradients
    assert all(p.grad is not None for p in net.parameters())
    assert model.state_dict().keys() == task.espnet_model_class(type(net)(), loss).state_dict().keys()


def test_unrendered_batch_without_a_renderer_is_a_clear_error(tiny_corpus):
    model = ESPnetS5TaggerModel(RecordingTagger(), loss_choices.get_class("label_pit")())
    batch = unrendered_batch(GenerateDataset(train_conf(), tiny_corpus, render_on_device=True), [0])
    with pytest.raises(S5InputError, match="render_on_device"):
        model(label_vector=torch.zeros(1, 3, 19), **batch)


def test_config_key_is_checked_and_off_by_default(tiny_corpus):
    check_generate_config(train_conf(), "conf.yaml")
    with pytest.raises(S5InputError, match=r"conf.yaml: train_data_conf.render_on_device = 'yes' is not bool"):
        check_generate_config(train_conf(render_on_device="yes"), "conf.yaml")
    with pytest.raises(S5InputError, match=r"unknown key\(s\) \['render_on_gpu'\]"):
        check_generate_config(dict(train_conf(), render_on_gpu=True), "conf.yaml")
    assert device_renderer(dict(train_conf(), render_on_device=False), tiny_corpus) is None
    assert device_renderer({k: v for k, v in train_conf().items() if k != "render_on_device"}, None) is None


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_render_equals_the_cpu_renderer(tiny_corpus):
    conf = train_conf(nevent_range=[1, 3])
    cpu = GenerateDataset(dict(conf, render_on_device=False), tiny_corpus, seed=5)
    dev = GenerateDataset(conf, tiny_corpus, seed=5, render_on_device=True)
    renderer = device_renderer(conf, tiny_corpus)
    mixture, dry = renderer.render(unrendered_batch(dev, range(6), device="cuda"))
    assert mixture.device.type == "cuda" and dry.device.type == "cuda"
    for i in range(6):
        item = cpu[i]
        scale = item["mixture"].abs().max().item()
        assert_close(mixture[i], item["mixture"].numpy(), scale)
        assert_close(dry[i], item["dry_sources"].numpy(), scale)
