"""A node-wide store of RIR spectra that all data-loading processes of a node share.

Each data-loading process keeps its own byte-bounded LRU of RIR spectra (``rir_cache_mb``), and
on the real corpus (about 1,080 positions x ~10 MB of spectra against 512 MB of cache) most
look-ups miss it: the RIR is read from SOFA and transformed again. With ``rir_store_dir`` set in
``train_data_conf`` the spectra computed by any process are written once to one ``.npy`` file a
key under that folder and read back with ``np.load(mmap_mode="r")``: every process of the node
maps the same pages of the OS page cache, so a look-up that misses the LRU costs a file open and
an mmap instead of a SOFA read and transforms (benchmarks/README.md "Synthesis throughput").

A file's name is a digest of everything that makes its spectra: the SOFA file (resolved path,
size and mtime: a changed corpus never serves stale spectra), the position, the rate, the FFT
length, the dry-target window and channel, :data:`FORMAT`, and the code that computes them (the
versions of torch, numpy and scipy and a digest of the source of synth/room.py, fft.py and
sofa.py: an upgrade or a change there never reads spectra that it would compute otherwise).
Files are written through :func:`espnet2_ext.fileio.atomic_path` (temporary name, then rename), so a reader never sees a half-written file; a file that does
not load with the expected shape and dtype (truncated, corrupt header) is recomputed and
replaced (the values themselves carry no checksum: a look-up must stay cheaper than computing).
A folder that cannot be created or written (permissions, a full disk) is warned about once and
the process goes on computing spectra without writing. Nothing is ever deleted: put the store
where the job's temporary files go (``${TMPDIR}``), or remove the folder when the corpus changes.

Layout of a file: complex64 [R + 1 (+1), F]: rows 0..R-1 the wet spectra, row R the energy
(F float32 in the first half of the row's bytes), then the dry spectrum when dry targets are
rendered. Values are stored bit for bit, so renders with and without the store are identical.
Only the CPU renderer uses the store (``render_on_device`` keeps its spectra on the device).
Off by default; benchmarks/README.md has the figures and docs/clusters_gpus.md how to turn it on.
"""
from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import os
import warnings
from pathlib import Path
from typing import Optional, Tuple

import numpy as np
import torch

from espnet2_ext.errors import S5InputError
from espnet2_ext.fileio import atomic_path

#: (wet [R, F] complex64, energy [F] float32, dry [F] complex64 or None)
Spectra = Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]
logger = logging.getLogger(__name__)

#: bump when the layout or the spectra's computation changes: old files are then never read
FORMAT = "rir-spectra-v1"


def resolve_store_dir(value: object, where: str = "train_data_conf") -> Optional[Path]:
    """The folder of ``rir_store_dir`` (``~`` and ``$VARS`` expanded), or None when not set.

    Raises S5InputError for a value that is not a non-empty string, names an unset environment
    variable, or names something that exists and is not a folder."""
    if value is None:
        return None
    fix = "give a folder on a local disk of the node, e.g. rir_store_dir: ${TMPDIR}/dcase26t4_rir_store"
    if not isinstance(value, (str, Path)) or isinstance(value, bool) or not str(value).strip():
        raise S5InputError(f"{where}: rir_store_dir = {value!r} is not a folder path; {fix}")
    text = os.path.expanduser(os.path.expandvars(str(value)))
    if "$" in text:
        raise S5InputError(f"{where}: rir_store_dir = {value!r} names an environment variable that is not "
                           f"set ({text!r}); {fix}")
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise S5InputError(f"{where}: rir_store_dir = {value!r} exists and is not a folder; {fix}")
    return path


@functools.lru_cache(maxsize=None)
def code_digest() -> str:
    """Versions of torch, numpy, scipy and a digest of the modules that compute the spectra."""
    import scipy

    h = hashlib.sha256(f"{torch.__version__} {np.__version__} {scipy.__version__}".encode())
    for name in ("room", "fft", "sofa"):
        h.update(Path(importlib.import_module(f"espnet2_ext.synth.{name}").__file__).read_bytes())
    return h.hexdigest()[:16]


class RirStore:
    """Spectra files under ``folder`` (created on the first write); see the module docstring."""

    def __init__(self, folder: os.PathLike):
        self.folder = Path(folder)
        self.writable = True
        self._warned: set = set()

    def __reduce__(self):       # a pickled cache (spawned loader workers) re-checks the folder itself
        return RirStore, (self.folder,)

    def key_path(self, sofa: os.PathLike, position: Tuple[float, ...], sr: int, nfft: int,
                 dry: Optional[tuple]) -> Path:
        """The file of one (SOFA file, position, rate, FFT length, dry spec) key."""
        st = os.stat(sofa)
        ident = repr((FORMAT, code_digest(), str(Path(sofa).resolve()), st.st_size, st.st_mtime_ns,
                      tuple(float(p) for p in position), int(sr), int(nfft), dry, "complex64"))
        return self.folder / (hashlib.sha256(ident.encode()).hexdigest()[:40] + ".npy")

    def load(self, path: Path, nchan: int, has_dry: bool, nfft: int) -> Optional[Spectra]:
        """(wet [nchan, F], energy [F], dry [F] or None): torch tensors on the mapped file (no
        copy), or None when the file is missing or unusable (then the caller recomputes it)."""
        rows, f = nchan + 1 + int(has_dry), nfft // 2 + 1
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as e:
            self._warn(path, f"is unreadable ({e})")
            return None
        if arr.dtype != np.complex64 or arr.shape != (rows, f) or not arr.flags.c_contiguous:
            self._warn(path, f"holds {arr.dtype} {arr.shape}, expected complex64 {(rows, f)}")
            return None
        with warnings.catch_warnings():       # a read-only mapping: the renderer never writes spectra
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            wet = torch.from_numpy(arr[:nchan])
            energy = torch.from_numpy(arr[nchan].view(np.float32)[:f])
            dry = torch.from_numpy(arr[nchan + 1]) if has_dry else None
        return wet, energy, dry

    def save(self, path: Path, wet: torch.Tensor, energy: torch.Tensor, dry: Optional[torch.Tensor]) -> None:
        """Write the spectra atomically (temporary file + rename); on an OSError warn once and
        stop writing in this process."""
        if not self.writable:
            return
        nchan, f = wet.shape
        arr = np.zeros((nchan + 1 + int(dry is not None), f), np.complex64)
        arr[:nchan] = wet.numpy()
        arr[nchan].view(np.float32)[:f] = energy.numpy()
        if dry is not None:
            arr[-1] = dry.numpy()
        try:
            with atomic_path(path, suffix=".npy") as tmp:     # a reader never sees a half-written file
                np.save(tmp, arr, allow_pickle=False)
        except (OSError, S5InputError) as e:                   # S5InputError: atomic_path's full disk
            self.writable = False
            logger.warning("RIR store: cannot write to %s (%s); this process goes on without writing "
                           "spectra there (set train_data_conf.rir_store_dir to a writable local folder "
                           "with room for them, or remove it)", self.folder, e)

    def _warn(self, path: Path, problem: str) -> None:
        if path not in self._warned:            # once a file: a look-up repeats every epoch
            self._warned.add(path)
            logger.warning("RIR store: %s %s; recomputing it", path, problem)
