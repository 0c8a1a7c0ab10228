"""dcase26t4: an ESPnet-style recipe for DCASE2026 Challenge Task 4 (S5).

The pinned run-time stack (torch/torchaudio pair, espnet) is installed by
``make -C tools``; this file only declares the package and its light deps.
"""
from setuptools import find_packages, setup

setup(
    name="dcase26t4",
    version="0.1.0",
    description="DCASE2026 Task 4 (Spatial Semantic Segmentation of Sound Scenes) recipe on espnet2",
    packages=find_packages(include=["espnet2_ext", "espnet2_ext.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch",
        "torchaudio",
        "espnet",
        "timm",
        "soundfile",
        "pyyaml",
        "numpy",
        "scipy",
        "h5py",
        "tqdm",
        "matplotlib",
    ],
)
