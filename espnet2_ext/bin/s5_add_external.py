"""Stage 2: add the external data of the official add_data.sh (Semantic Hearing, EARS).

Subcommands (all take --dev_set, --semhear_path, --ears_path and the filter options):
  check      plan the work and fail early with a clear message (missing folders or files)
  job        process shard --job J of --nj N; writes LOGDIR/info/status.J.json
  summarize  merge the N shard reports; prints and writes LOGDIR/summary.{txt,json} and
             LOGDIR/by_status/<status>.json (the files of each status)

Example (what local/add_external_data.sh runs):
  python -m espnet2_ext.bin.s5_add_external check --dev_set data/dev_set \\
      --semhear_path /data/BinauralCuratedDataset --ears_path /data/EARS
  run.pl JOB=1:4 exp/add_external_data/log/add_external.JOB.log \\
      python -m espnet2_ext.bin.s5_add_external job --job JOB --nj 4 ... \\
      --logdir exp/add_external_data
  python -m espnet2_ext.bin.s5_add_external summarize --nj 4 ... --logdir exp/add_external_data
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Optional, Sequence

from espnet2_ext import validate
from espnet2_ext.corpus.external_data import (FilterConfig, plan_all, run_shard, summarize,
                                              write_summary)
from espnet2_ext.errors import S5InputError, cli_main
from espnet2_ext.output_paths import check_output_dir
from espnet2_ext.fileio import write_json
from espnet2_ext.jobs import check_job

log = logging.getLogger("s5_add_external")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["check", "job", "summarize"])
    p.add_argument("--dev_set", type=Path, default=Path("data/dev_set"))
    p.add_argument("--semhear_path", type=Path, required=True,
                   help="extracted BinauralCuratedDataset (bg_scaper_fmt/, FSD50K/)")
    p.add_argument("--ears_path", type=Path, required=True, help="EARS folder (p001 ... p107)")
    p.add_argument("--logdir", type=Path, default=Path("exp/add_external_data"))
    p.add_argument("--nj", type=validate.positive_int, default=1, help="number of shards")
    p.add_argument("--job", type=validate.positive_int, default=1, help="this shard (1-based), mode 'job'")
    p.add_argument("--progress", action="store_true", help="progress bar (mode 'job')")
    d = FilterConfig()
    p.add_argument("--target_sr", type=validate.positive_int, default=d.target_sr)
    p.add_argument("--amp_threshold", type=validate.nonnegative_float, default=d.amp_threshold)
    p.add_argument("--min_length", type=validate.nonnegative_float, default=d.min_length, help="seconds")
    p.add_argument("--segment", type=validate.positive_float, default=d.segment, help="window, seconds")
    p.add_argument("--shift", type=validate.positive_float, default=d.shift, help="window hop, seconds")
    return p


def shard_report(logdir: Path, job: int) -> Path:
    return logdir / "info" / f"status.{job}.json"


@cli_main
def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s (%(module)s) %(message)s")
    args = get_parser().parse_args(argv)
    check_output_dir(args.logdir, "--logdir")
    check_job(1, args.nj)
    if args.mode == "summarize":
        infos = []
        for job in range(1, args.nj + 1):
            path = shard_report(args.logdir, job)
            if not path.is_file():
                raise S5InputError(f"shard report {path} is missing: job {job} did not finish; "
                                   f"see {args.logdir}/log/add_external.{job}.log")
            infos += json.loads(path.read_text())
        print(write_summary(infos, args.logdir))
        print(f"(summary written to {args.logdir}/summary.txt)")
        return
    items = plan_all(args.dev_set, args.semhear_path, args.ears_path)
    if args.mode == "check":
        counts = {s: sum(it.source == s for it in items) for s in ("interference", "FSD50K",
                                                                  "EARS")}
        log.info("external data plan: %s", ", ".join(f"{n} {s} files"
                                                     for s, n in counts.items()))
        return
    check_job(args.job, args.nj)
    cfg = FilterConfig(args.target_sr, args.amp_threshold, args.min_length, args.segment,
                       args.shift)
    infos = run_shard(items, args.job, args.nj, cfg, progress=args.progress)
    write_json(shard_report(args.logdir, args.job), infos)
    log.info("job %d/%d: %s", args.job, args.nj, summarize(infos)[0].splitlines()[0])


if __name__ == "__main__":
    main()
