"""dcase26t4: an ESPnet-style recipe for DCASE2026 Challenge Task 4 (S5).

``install_requires`` lists what the package imports; the exact versions of the whole
environment are pinned in ``tools/constraints.txt`` and installed by ``make -C tools``
(``pip install -c tools/constraints.txt -e ".[test,mini]"`` reproduces it by hand).
Extras: ``test`` (pytest), ``mini`` (pyroomacoustics, for the built-in mini corpus).
"""
from setuptools import find_packages, setup

setup(
    name="dcase26t4",
    version="0.1.0",
    description="DCASE2026 Task 4 (Spatial Semantic Segmentation of Sound Scenes) recipe on espnet2",
    packages=find_packages(include=["espnet2_ext", "espnet2_ext.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch",            # a matched pair with torchaudio: see tools/constraints.txt
        "torchaudio",
        "espnet",           # espnet2 tasks, trainer, ClassChoices
        "timm",             # the M2D backbone builds on timm's ViT Block
        "numpy",
        "scipy",
        "soundfile",
        "soxr",             # resampling external data (stage 2)
        "sox",              # the SoX binding: s5_prepare_audio
        "pyyaml",
        "h5py",             # SOFA room files
        "netCDF4",          # SOFA files written by the mini corpus / tests
        "tqdm",
        "matplotlib",       # score plots
        "tensorboard",      # training summaries (espnet2 --use_tensorboard)
    ],
    extras_require={
        "test": ["pytest", "pytest-xdist"],   # the suite runs on every core (pytest.ini: -n auto)
        "mini": ["pyroomacoustics"],   # rooms of the built-in mini corpus
    },
)
