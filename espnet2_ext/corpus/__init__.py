"""The official DCASE2026 Task 4 corpus: folder layout and its checker, download,
external data (Semantic Hearing, EARS), and the embedded mini corpus.

Modules:
  * ``layout``        folder names of the archives; :func:`verify_layout` collects every problem
  * ``download``      Zenodo/GitHub downloads (md5, resume), unpack, links
  * ``split_zip``     reads Info-ZIP split archives (.z01 ... .zip) with Python's zipfile
  * ``external_data`` the ``add_data.sh`` filters and the interference / pick-up list copies
  * ``mini``          a small synthetic corpus in the official layout (CI, newcomers): a package
"""
