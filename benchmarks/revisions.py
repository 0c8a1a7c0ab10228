"""The package of another git revision, for benchmarks that time the current tree against it
(``synth_throughput.py --revisions``, ``separator_speed.py --revision``)."""
from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_at(revision: str, folder: Path) -> Path:
    """The espnet2_ext of git ``revision``, extracted into ``folder`` (returned)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "espnet2_ext"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder
