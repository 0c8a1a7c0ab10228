"""The mini corpus: a small synthetic corpus in the exact official layout (for CI and newcomers).

:func:`build_mini_corpus` writes, under ``outdir``::

    dev_set/      config, metadata/valid*, noise, room_ir, sound_event, interference,
                  synthesized/test/{soundscape,oracle_target}
    eval_set/     synthesized/eval/soundscape/eval_XXXX.wav
    checkpoint/   <official M2D folder>/<official M2D file> (a tiny fabricated ViT)
    external/     BinauralCuratedDataset/{bg_scaper_fmt,FSD50K}, EARS/p001... (for stage 2)
    mini_corpus.json   build stamp (the configuration); written last

Everything is drawn from ``numpy`` generators seeded by (seed, item name), so a seed gives
byte-identical files. Modules: ``config`` (sizes, generators), ``sounds`` (the 18 learnable
class sounds, noise), ``rooms`` (FOA room impulse responses), ``layout_jobs`` (the files of
the four source folders, also used by :mod:`espnet2_ext.corpus.full_scale`), ``external``
(the fake stage-2 tree), ``build`` (the corpus, the stamp). Build it with
``python -m espnet2_ext.bin.s5_download --mini true`` (what ``run.sh --mini true`` runs).
"""
from espnet2_ext.corpus.mini.build import STAMP, build_mini_corpus, is_built, tree_digest
from espnet2_ext.corpus.mini.config import MiniCorpusConfig

__all__ = ["MiniCorpusConfig", "build_mini_corpus", "is_built", "tree_digest", "STAMP"]
