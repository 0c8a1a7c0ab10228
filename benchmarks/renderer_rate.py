"""Child of ``synth_throughput.py --revisions``: the render rate of the espnet2_ext package
that comes first on ``sys.path`` (one git revision's copy, put there by the parent).

Reads a JSON request on stdin: corpus_root, config (train_data_conf), tagger, n, seed, passes.
Renders the scenes of items 0..n-1 of ``GenerateDataset`` once (decoding the clips, filling
the RIR-spectrum cache), then times ``passes`` passes of rendering them, and prints
``{"cpu": mixtures per CPU second, "package": the espnet2_ext folder used, "process_cpu_s": the
whole process's CPU time (user + system: imports, warm-up and timed passes), "peak_rss_mb": its
peak resident set size (``VmHWM``: ``ru_maxrss`` would count the parent's RSS at the fork)}`` as JSON.
It uses only the parts of the package's API that every revision compared has.
"""
import json
import resource
import sys
import time

import torch

from espnet2_ext.synth.dataset import GenerateDataset


def main() -> None:
    request = json.load(sys.stdin)
    torch.set_num_threads(1)
    data = GenerateDataset(request["config"], corpus_root=request["corpus_root"],
                           label_vector_mode="stack" if request["tagger"] else "concat",
                           return_source=not request["tagger"], seed=request["seed"],
                           rir_cache_mb=4096, source_cache_mb=1024)
    scenes = [data.scene(i)[0] for i in range(request["n"])]
    return_dry = not request["tagger"]
    for scene in scenes:                        # warm-up: clips decoded, RIR spectra cached
        data.renderer.render(scene, return_dry=return_dry)
    start = time.process_time()
    for _ in range(request["passes"]):
        for scene in scenes:
            data.renderer.render(scene, return_dry=return_dry)
    rate = request["passes"] * len(scenes) / (time.process_time() - start)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu": rate, "package": str(sys.modules["espnet2_ext"].__path__[0]),
                      "process_cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (VmHWM of /proc/self/status)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    main()
