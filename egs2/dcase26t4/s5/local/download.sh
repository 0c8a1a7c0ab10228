#!/usr/bin/env bash
# Stage 1: corpus + M2D weights -> ${corpus_dir}; links ${data_dir}/{dev_set,eval_set} and
# ${checkpoint_dir}/<M2D folder>; ends with the layout check (interference may be missing).
#   --mini true   build the mini corpus instead (seed --mini_seed), nothing is downloaded
#   --local_data_dir DIR   link an extracted corpus (DIR/dev_set, DIR/eval_set) instead of downloading
# Downloads resume (.part files) and are md5/sha256-checked; base URLs: DCASE26T4_ZENODO_URL,
# DCASE26T4_GITHUB_URL. Offline: the error names each URL and where to put the file by hand.
set -euo pipefail

mini=false
mini_seed=0
corpus_dir=downloads
local_data_dir=
checkpoint_dir=checkpoint
download_baseline_ckpt=false
data_dir=data
checksum_table=local/checksums.txt

help_message=$(cat <<EOT
Usage: $0 [options]
  --mini true|false              build the mini corpus instead of downloading (default ${mini})
  --mini_seed N                  seed of the mini corpus (default ${mini_seed})
  --corpus_dir DIR               download / unpack / build here (default ${corpus_dir})
  --local_data_dir DIR           link an already extracted corpus instead of downloading
  --checkpoint_dir DIR           M2D weights (and baseline checkpoints) go here (default ${checkpoint_dir})
  --download_baseline_ckpt B     also fetch the official baseline checkpoints (default ${download_baseline_ckpt})
  --data_dir DIR                 gets the links dev_set, eval_set (default ${data_dir})
  --checksum_table FILE          md5/sha256 table: Zenodo fallback, GitHub release assets (default ${checksum_table})
EOT
)

. utils/parse_options.sh

if [ $# -ne 0 ]; then
    echo "${help_message}" >&2
    exit 2
fi

python -m espnet2_ext.bin.s5_download --mini "${mini}" --mini_seed "${mini_seed}" \
    --corpus_dir "${corpus_dir}" --local_data_dir "${local_data_dir}" \
    --checkpoint_dir "${checkpoint_dir}" --download_baseline_ckpt "${download_baseline_ckpt}" \
    --data_dir "${data_dir}" --checksum_table "${checksum_table}"
