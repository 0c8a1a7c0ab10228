"""Test helper: run an S5 trainer (as torchrun starts it) and record the items this rank reads.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/tasks/record_items.py \\
        RECORD_PREFIX tag|sep TRAINER_ARGS...

Appends ``train <epoch> <index>`` / ``valid <uid>`` lines to ``RECORD_PREFIX.rank<R>``
(``num_workers: 0``, so the items are read in this process).
"""
import os
import sys

from espnet2_ext.synth.dataset import GenerateDataset
from espnet2_ext.tasks import s5_data

_read = s5_data.EspnetItems.__getitem__


def recording_getitem(self, index):
    uid, item = _read(self, index)
    what = f"train {self.base.epoch} {index}" if isinstance(self.base, GenerateDataset) else f"valid {uid}"
    with open(f"{PREFIX}.rank{os.environ.get('RANK', '0')}", "a") as f:
        f.write(what + "\n")
    return uid, item


if __name__ == "__main__":
    PREFIX, task, *args = sys.argv[1:]
    s5_data.EspnetItems.__getitem__ = recording_getitem
    if task == "tag":
        from espnet2_ext.bin.s5_tag_train import main
    else:
        from espnet2_ext.bin.s5_sep_train import main
    main(args)
