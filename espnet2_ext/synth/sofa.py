"""SOFA room impulse response files: a netCDF writer and a reader for netCDF-4 and netCDF-3.

A SOFA file (AES69) is a netCDF container: netCDF-4 (HDF5 inside) as a rule, but
netCDF-3 files are valid too and python-sofa (which SpAudSyn uses) reads them. We
write the subset the official code (python-sofa / SpAudSyn ``SofaRoom``) reads:

  global attrs  Conventions=SOFA, SOFAConventions=GeneralFIR, DataType=FIR, ...
  dimensions    M (measurements), R (receivers), N (samples), E=1, I=1, C=3
  Data.IR            [M, R, N]   impulse responses
  Data.SamplingRate  [I]         hertz
  Data.Delay         [I, R]      zeros
  SourcePosition     [M, C]      cartesian metres, relative to the array centre
  ReceiverPosition   [R, C, I]   cartesian metres
  ListenerPosition   [I, C]      origin
  EmitterPosition    [E, C, I]   origin

:func:`read_sofa` reads any such file (also spherical source positions): HDF5 files
with h5py (fast, partial reads), other netCDF files through the netCDF4 library; it
raises :class:`S5InputError` naming the file when it is unreadable.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Optional, Union

import numpy as np

from espnet2_ext.errors import S5InputError

PathLike = Union[str, Path]


@dataclasses.dataclass
class SofaData:
    """Contents of a SOFA file: ``irs`` [M, R, N] float32 ([M, R, 0] for a header), ``sr`` Hz,
    ``positions`` [M, 3] cartesian m, ``rir_len`` N (also for a header)."""

    irs: np.ndarray
    sr: int
    positions: np.ndarray
    rir_len: int = 0


def write_sofa(
    path: PathLike,
    irs: np.ndarray,
    sr: int,
    source_positions: np.ndarray,
    receiver_positions: Optional[np.ndarray] = None,
    file_format: str = "NETCDF4",
) -> None:
    """Write a SOFA (GeneralFIR) file readable by python-sofa and :func:`read_sofa`.

    Args:
        path: output file (written to a temporary name, then renamed).
        irs: [M, R, N] impulse responses (stored as float64).
        sr: sampling rate in Hz.
        source_positions: [M, 3] cartesian source positions in metres, relative to the array centre.
        receiver_positions: [R, 3] cartesian receiver positions (default: all at the origin).
        file_format: a netCDF4 library format: "NETCDF4" (SOFA's usual HDF5 container),
            "NETCDF3_CLASSIC" or "NETCDF3_64BIT_OFFSET" (netCDF-3, also valid SOFA).
    """
    import netCDF4

    from espnet2_ext.fileio import atomic_path

    irs = np.asarray(irs, dtype=np.float64)
    if irs.ndim != 3:
        raise ValueError(f"irs must be [M, R, N], got shape {irs.shape}")
    m, r, n = irs.shape
    src = np.asarray(source_positions, dtype=np.float64).reshape(m, 3)
    rec = (np.zeros((r, 3)) if receiver_positions is None
           else np.asarray(receiver_positions, dtype=np.float64).reshape(r, 3))
    now = datetime.datetime(2026, 1, 1).strftime("%Y-%m-%d %H:%M:%S")  # fixed: byte-stable files
    with atomic_path(path) as tmp:   # temp name ends in .part: never listed as a room
        ds = netCDF4.Dataset(str(tmp), "w", format=file_format)
        try:
            ds.setncatts({
                "Conventions": "SOFA", "Version": "2.1", "SOFAConventions": "GeneralFIR",
                "SOFAConventionsVersion": "1.0", "DataType": "FIR", "RoomType": "reverberant",
                "Title": Path(path).stem, "APIName": "dcase26t4 espnet2_ext.synth.sofa",
                "APIVersion": "1.0", "AuthorContact": "", "Organization": "", "License": "CC-BY-4.0",
                "DateCreated": now, "DateModified": now,
            })
            for name, size in (("M", m), ("R", r), ("N", n), ("E", 1), ("I", 1), ("C", 3)):
                ds.createDimension(name, size)

            def var(name, dims, value, **attrs):
                v = ds.createVariable(name, "f8", dims)
                v[:] = value
                v.setncatts(attrs)

            var("Data.IR", ("M", "R", "N"), irs)
            var("Data.SamplingRate", ("I",), [float(sr)], Units="hertz")
            var("Data.Delay", ("I", "R"), np.zeros((1, r)))
            cart = {"Type": "cartesian", "Units": "metre"}
            var("SourcePosition", ("M", "C"), src, **cart)
            var("ReceiverPosition", ("R", "C", "I"), rec[:, :, None], **cart)
            var("ListenerPosition", ("I", "C"), np.zeros((1, 3)), **cart)
            var("ListenerUp", ("I", "C"), [[0.0, 0.0, 1.0]])
            var("ListenerView", ("I", "C"), [[1.0, 0.0, 0.0]], **cart)
            var("EmitterPosition", ("E", "C", "I"), np.zeros((1, 3, 1)), **cart)
        finally:
            ds.close()


def _attr_str(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return str(value)


def spherical_to_cartesian(sph: np.ndarray) -> np.ndarray:
    """[M, 3] (azimuth deg, elevation deg, radius m) -> [M, 3] cartesian metres (SOFA convention)."""
    az, el, rad = np.deg2rad(sph[:, 0]), np.deg2rad(sph[:, 1]), sph[:, 2]
    return np.stack([rad * np.cos(el) * np.cos(az), rad * np.cos(el) * np.sin(az),
                     rad * np.sin(el)], axis=1)


class _NetcdfVariable:
    """The part of h5py's Dataset interface that the readers use, on a netCDF4 variable."""

    def __init__(self, variable):
        self.variable = variable
        self.ndim, self.shape = variable.ndim, variable.shape
        self.attrs = {a: variable.getncattr(a) for a in variable.ncattrs()}

    def __getitem__(self, index):
        return self.variable[:] if index == () else self.variable[index]


class _NetcdfFile:
    """A netCDF file (netCDF-3 classic/64-bit offset) seen through h5py's File interface."""

    def __init__(self, dataset):
        self.dataset = dataset
        dataset.set_auto_mask(False)

    def __contains__(self, key: str) -> bool:
        return key in self.dataset.variables

    def __getitem__(self, key: str) -> _NetcdfVariable:
        return _NetcdfVariable(self.dataset.variables[key])

    def __enter__(self) -> "_NetcdfFile":
        return self

    def __exit__(self, *exc) -> None:
        self.dataset.close()


def _open(path: Path):
    """An h5py File for HDF5 (netCDF-4) files, else the netCDF view of a netCDF-3 file."""
    import h5py

    if not path.is_file():
        raise S5InputError(f"SOFA file not found: {path}")
    try:
        if h5py.is_hdf5(str(path)):
            return h5py.File(str(path), "r")
        import netCDF4

        return _NetcdfFile(netCDF4.Dataset(str(path), "r"))
    except Exception as e:  # truncated, or neither HDF5 nor netCDF
        raise S5InputError(
            f"cannot read SOFA file {path}: {e}. It is truncated or not a SOFA (netCDF-4 or netCDF-3) "
            "file; re-download or re-create it.") from e


def read_sofa_header(path: PathLike) -> "SofaData":
    """Read sampling rate, source positions and RIR length only (``irs`` is an empty [M, R, 0] array)."""
    return _read(Path(path), with_irs=False)


def read_sofa_irs(path: PathLike, indices) -> np.ndarray:
    """Read the impulse responses of the measurements ``indices`` -> [k, R, N] float64."""
    path = Path(path)
    idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
    order = np.argsort(idx)
    with _open(path) as f:
        try:
            data = f["Data.IR"][np.sort(idx).tolist()]
        except Exception as e:
            raise S5InputError(f"cannot read Data.IR of SOFA file {path}: {e}") from e
    out = np.empty_like(data, dtype=np.float64)
    out[order] = data
    return out


def read_sofa(path: PathLike) -> SofaData:
    """Read a whole SOFA file: irs [M, R, N] float32, sr, cartesian positions [M, 3]."""
    return _read(Path(path), with_irs=True)


def _read(path: Path, with_irs: bool) -> SofaData:
    with _open(path) as f:
        try:
            for key in ("Data.IR", "Data.SamplingRate", "SourcePosition"):
                if key not in f:
                    raise S5InputError(
                        f"SOFA file {path} has no variable {key!r}; it is not a FIR SOFA file")
            ir = f["Data.IR"]
            if ir.ndim != 3:
                raise S5InputError(f"SOFA file {path}: Data.IR must be [M, R, N], got {ir.shape}")
            m, r, n = ir.shape
            irs = (np.asarray(ir[()], dtype=np.float32) if with_irs
                   else np.zeros((m, r, 0), dtype=np.float32))
            sr = float(np.asarray(f["Data.SamplingRate"][()]).reshape(-1)[0])
            pos_var = f["SourcePosition"]
            pos = np.asarray(pos_var[()], dtype=np.float64).reshape(-1, 3)
            pos_type = _attr_str(pos_var.attrs.get("Type", "cartesian")).lower()
        except S5InputError:
            raise
        except Exception as e:  # truncated datasets raise OSError inside h5py
            raise S5InputError(f"cannot read SOFA file {path}: {e}. Re-download or re-create it.") from e
    if pos.shape[0] == 1 and m > 1:
        pos = np.repeat(pos, m, axis=0)
    if pos.shape[0] != m:
        raise S5InputError(f"SOFA file {path}: SourcePosition has {pos.shape[0]} rows but M={m}")
    if pos_type.startswith("spherical"):
        pos = spherical_to_cartesian(pos)
    if not (sr > 0 and float(sr).is_integer()):
        raise S5InputError(f"SOFA file {path}: invalid Data.SamplingRate {sr}")
    return SofaData(irs=irs, sr=int(sr), positions=pos, rir_len=int(n))
