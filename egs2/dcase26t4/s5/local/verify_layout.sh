#!/usr/bin/env bash
# Check data/dev_set (+ data/eval_set and the M2D weights when present); lists every problem
# and exits non-zero if there is any. Run before training, or after fixing the corpus by hand.
set -euo pipefail

dev_set=data/dev_set
eval_set=data/eval_set
checkpoint_dir=checkpoint
require_external=true

help_message=$(cat <<EOT
Usage: $0 [options]
  --dev_set DIR            (default ${dev_set})
  --eval_set DIR           checked if it exists (default ${eval_set})
  --checkpoint_dir DIR     holds the M2D weight folder (default ${checkpoint_dir})
  --require_external B     require interference/ from stage 2 (default ${require_external})
EOT
)

. utils/parse_options.sh

opts=(--dev_set "${dev_set}" --checkpoint_dir "${checkpoint_dir}" --require_external "${require_external}")
if [ -e "${eval_set}" ]; then
    opts+=(--eval_set "${eval_set}")
fi
python -m espnet2_ext.bin.s5_verify_layout "${opts[@]}"
