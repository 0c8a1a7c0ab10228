"""espnet2_ext.synth.fft: torch.fft's real transforms to the bit, through reused MKL descriptors."""
import multiprocessing

import pytest
import torch

from espnet2_ext.synth import fft

needs_mkl = pytest.mark.skipif(not torch.backends.mkl.is_available(), reason="torch built without MKL")


def _signal(*shape, dtype=torch.float32, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


@needs_mkl
def test_the_mkl_path_is_taken_where_torch_has_mkl():
    assert fft._dfti() is not None


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape,n", [((1000,), 1024), ((3, 1000), 1024), ((2, 3, 700), 1024),
                                     ((4, 1500), 1024), ((2, 999), 999), ((5, 4096), 4096)])
def test_rfft_and_irfft_give_torch_fft_bits(shape, n, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = _signal(*shape)
        spectra = fft.rfft(x, n)
        assert torch.equal(spectra, torch.fft.rfft(x, n=n))
        assert torch.equal(fft.irfft(spectra, n), torch.fft.irfft(spectra, n=n))
    finally:
        torch.set_num_threads(before)


def test_inputs_torch_fft_handles_differently_fall_back_or_are_made_plain():
    x = _signal(3, 512)
    strided = fft.rfft(x[:, ::2], 256)             # copied to rows first: equal within float32 rounding
    assert torch.allclose(strided, torch.fft.rfft(x[:, ::2], n=256), rtol=0, atol=1e-5)
    spectra = torch.fft.rfft(x)
    assert torch.equal(fft.irfft(spectra.conj(), 512), torch.fft.irfft(spectra.conj(), n=512))   # conj bit
    x64 = x.double()                                                                     # float64: torch.fft
    assert torch.equal(fft.rfft(x64, 512), torch.fft.rfft(x64, n=512))
    leaf = x.clone().requires_grad_(True)                                                # autograd: torch.fft
    fft.irfft(fft.rfft(leaf, 512), 512).sum().backward()
    assert leaf.grad is not None and leaf.grad.shape == x.shape


def test_out_is_written_and_checked():
    x = _signal(2, 256)
    buffer = torch.empty(2 * 129 + 10, dtype=torch.complex64)
    out = buffer[:2 * 129].view(2, 129)
    assert fft.rfft(x, 256, out=out).data_ptr() == out.data_ptr()
    assert torch.equal(out, torch.fft.rfft(x))
    with pytest.raises(ValueError, match="contiguous"):
        fft.rfft(x, 256, out=torch.empty(2, 130, dtype=torch.complex64))


@needs_mkl
def test_committed_descriptors_are_bounded():
    for rows in range(1, fft.MAX_PLANS + 6):
        fft.rfft(_signal(rows, 64), 64)
    assert len(fft._dfti().plans) <= fft.MAX_PLANS


def _child_transform(queue):
    torch.set_num_threads(1)                       # as torch's DataLoader workers do
    x = _signal(2, 300, seed=3)
    queue.put(bool(torch.equal(fft.irfft(fft.rfft(x, 512), 512), torch.fft.irfft(torch.fft.rfft(x, n=512), n=512))))


def test_a_forked_loader_worker_transforms_right():
    fft.rfft(_signal(2, 300), 512)                 # descriptors committed in the parent first
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_transform, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0 and queue.get(timeout=5) is True


def test_threads_transforming_at_once_keep_their_own_descriptors():
    from concurrent.futures import ThreadPoolExecutor

    def work(seed):
        ok = True
        for rows in range(1, fft.MAX_PLANS + 4):         # more shapes than one LRU holds: evictions
            x = _signal(rows, 256, seed=seed + rows)
            ok &= torch.equal(fft.irfft(fft.rfft(x, 256), 256), torch.fft.irfft(torch.fft.rfft(x), n=256))
        return ok

    with ThreadPoolExecutor(3) as pool:
        assert all(pool.map(work, [0, 100, 200, 300, 400, 500]))


@pytest.mark.parametrize("n", [512, 999, 2048])
def test_irfft_cuts_or_pads_the_spectrum_as_torch_does(n):
    spectra = torch.fft.rfft(_signal(3, 1000))                     # 501 bins: more or fewer than n//2+1
    assert torch.equal(fft.irfft(spectra, n), torch.fft.irfft(spectra, n=n))
