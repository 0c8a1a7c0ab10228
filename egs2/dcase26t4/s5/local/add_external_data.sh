#!/usr/bin/env bash
# Stage 2: the official add_data.sh — Semantic Hearing interference (94 classes) and the
# FSD50K / EARS events of the dev set's pick-up lists, filtered (peak, length, zero trimming,
# quiet 10 s windows) and resampled to 32 kHz, in --nj parallel jobs through --cmd.
# A per-status summary goes to ${logdir}/summary.txt; ends with the layout check.
set -euo pipefail

cmd=run.pl
nj=4
mini=false
semhear_path=
ears_path=
dev_set=data/dev_set
logdir=exp/add_external_data

help_message=$(cat <<EOT
Usage: $0 [options]
  --cmd CMD              job runner, e.g. run.pl or "slurm.pl --config conf/slurm.conf" (default ${cmd})
  --nj N                 parallel jobs (default ${nj})
  --mini true|false      with empty paths, use the fake external data of the mini corpus (default ${mini})
  --semhear_path DIR     extracted BinauralCuratedDataset (holds bg_scaper_fmt/ and FSD50K/)
  --ears_path DIR        EARS folder (p001 ... p107)
  --dev_set DIR          the dev set to add to (default ${dev_set})
  --logdir DIR           logs, shard reports and the summary (default ${logdir})
EOT
)

. utils/parse_options.sh

if [ $# -ne 0 ]; then
    echo "${help_message}" >&2
    exit 2
fi

if "${mini}" && [ -z "${semhear_path}" ] && [ -z "${ears_path}" ]; then
    corpus=$(dirname "$(readlink -f "${dev_set}")")
    semhear_path=${corpus}/external/BinauralCuratedDataset
    ears_path=${corpus}/external/EARS
fi
if [ -z "${semhear_path}" ]; then
    echo "$0: ERROR: set --semhear_path (run.sh: --semhear_path, or SEMHEAR in db.sh) to the extracted" \
         "Semantic Hearing BinauralCuratedDataset folder (https://semantichearing.cs.washington.edu/BinauralCuratedDataset.tar)" >&2
    exit 2
fi
if [ -z "${ears_path}" ]; then
    echo "$0: ERROR: set --ears_path (run.sh: --ears_path, or EARS in db.sh) to the EARS folder holding" \
         "p001 ... p107 (https://github.com/facebookresearch/ears_dataset)" >&2
    exit 2
fi

opts=(--dev_set "${dev_set}" --semhear_path "${semhear_path}" --ears_path "${ears_path}"
      --logdir "${logdir}" --nj "${nj}")

python -m espnet2_ext.bin.s5_add_external check "${opts[@]}"
rm -rf "${logdir}/info"
# shellcheck disable=SC2086
${cmd} JOB=1:"${nj}" "${logdir}/log/add_external.JOB.log" \
    python -m espnet2_ext.bin.s5_add_external job --job JOB "${opts[@]}"
python -m espnet2_ext.bin.s5_add_external summarize "${opts[@]}"
python -m espnet2_ext.bin.s5_verify_layout --dev_set "${dev_set}" --require_external true
