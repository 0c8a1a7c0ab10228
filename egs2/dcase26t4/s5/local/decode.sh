#!/usr/bin/env bash
# Decode a folder of soundscapes with the S5 chain, split over nj jobs, then
# assemble estimates.json. Rerunning resumes: finished soundscapes are skipped.
#
#   local/decode.sh --cmd "${decode_cmd}" --nj 4 --soundscape_dir D --output_dir E \
#       --separator_ckpt S [--tagger_ckpt T --tagger_type 4c --m2d_weight_file W]
# (defaults of --tagger_type and --m2d_weight_file: espnet2_ext/s5/official.py, via s5_inference)
#       [--oracle_target_dir O --oracle_labels true] [--device auto] [--batch_size 2] [--overwrite false]
#       [--precision fp32]   (bf16: opt-in bfloat16 autocast of the tagger and the U-Net)
#       [--calibration exp/tag_blocks_4c/calibration_valid.loss.best.json]   (s5_calibrate; default argmax)
# The folder records what it was decoded with (identity.json): another model stops with an
# error, --overwrite true empties it first.
set -euo pipefail

cmd=run.pl
nj=4
soundscape_dir=
output_dir=
tagger_ckpt=
separator_ckpt=
tagger_type=
m2d_weight_file=
oracle_target_dir=
oracle_labels=false
calibration=
device=auto
precision=fp32
batch_size=2
overwrite=false
help_message="Usage: $0 --soundscape_dir D --output_dir E --separator_ckpt S [options]"
. utils/parse_options.sh

[ -d "${soundscape_dir}" ] || { echo "$0: soundscape folder ${soundscape_dir} not found" >&2; exit 1; }
n=$(find "${soundscape_dir}" -maxdepth 1 -name '*.wav' | wc -l)
[ "${n}" -gt 0 ] || { echo "$0: no .wav files in ${soundscape_dir}" >&2; exit 1; }
[ "${nj}" -le "${n}" ] || nj=${n}
mkdir -p "${output_dir}/log"

opts=(--soundscape_dir "${soundscape_dir}" --output_dir "${output_dir}" --separator_ckpt "${separator_ckpt}"
      --oracle_labels "${oracle_labels}" --precision "${precision}")
[ -n "${tagger_ckpt}" ] && opts+=(--tagger_ckpt "${tagger_ckpt}")
[ -n "${tagger_type}" ] && opts+=(--tagger_type "${tagger_type}")
[ -n "${m2d_weight_file}" ] && opts+=(--m2d_weight_file "${m2d_weight_file}")
[ -n "${oracle_target_dir}" ] && opts+=(--oracle_target_dir "${oracle_target_dir}")
[ -n "${calibration}" ] && opts+=(--calibration "${calibration}")

# one process checks (or records) the folder's identity before the parallel jobs start
python -m espnet2_ext.bin.s5_inference "${opts[@]}" --claim_only true --overwrite "${overwrite}"
${cmd} JOB=1:"${nj}" "${output_dir}/log/decode.JOB.log" \
    python -m espnet2_ext.bin.s5_inference "${opts[@]}" --device "${device}" --batch_size "${batch_size}" \
        --job JOB --nj "${nj}"
python -m espnet2_ext.bin.s5_inference "${opts[@]}" --merge_only true
echo "$0: estimates of ${n} soundscapes in ${output_dir}"
