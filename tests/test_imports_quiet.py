"""Importing our package and its espnet2-facing modules must stay silent offline."""
import pkgutil
import subprocess
import sys

import espnet2_ext


def test_all_modules_import_without_network_noise():
    names = [m.name for m in pkgutil.walk_packages(espnet2_ext.__path__, "espnet2_ext.")
             if ".bin." not in m.name]
    code = "import importlib\nfor n in %r:\n    importlib.import_module(n)\n" % names
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    for noise in ("nltk_data", "Failed to import", "urlopen", "Errno"):
        assert noise not in out, out
