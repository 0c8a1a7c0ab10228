#!/usr/bin/env bash
# Stage 3: synthesize the validation set and write the Kaldi-style data dirs.
#
#   local/synthesize.sh --cmd "${decode_cmd}" --nj 4 --dev_set data/dev_set \
#       --eval_set data/eval_set --data_dir data --logdir exp/synthesize
#
# Writes
#   <data_dir>/valid/{soundscape,oracle_target}/   re-synthesized from <dev_set>/metadata/valid.json
#   <data_dir>/{valid,test}/{wav.scp,labels,spk1.scp,spk2.scp,spk3.scp,soundscape_dir,oracle_target_dir}
#   <data_dir>/eval/{wav.scp,soundscape_dir}       (skipped with a warning if the eval set is absent)
# test = <dev_set>/synthesized/test, eval = <eval_set>/synthesized/eval/soundscape (indexed only).
# Rerunning resumes: mixtures already written are not synthesized again.
set -euo pipefail

cmd=run.pl
nj=4
dev_set=data/dev_set
eval_set=data/eval_set
data_dir=data
logdir=exp/synthesize
n_sources=3
help_message="Usage: $0 [--cmd run.pl] [--nj 4] [--dev_set D] [--eval_set E] [--data_dir data] [--logdir L]"
. utils/parse_options.sh
[ $# -eq 0 ] || { echo "${help_message}" >&2; exit 1; }

valid_list=${dev_set}/metadata/valid.json
test_dir=${dev_set}/synthesized/test
eval_dir=${eval_set}/synthesized/eval/soundscape
[ -f "${valid_list}" ] || { echo "$0: ${valid_list} not found; run stage 1 first" >&2; exit 1; }
[ -d "${test_dir}/soundscape" ] || { echo "$0: ${test_dir}/soundscape not found; run stage 1 first" >&2; exit 1; }
corpus_root=$(dirname "${dev_set}")   # the folder that 'data/' in the metadata paths maps to
mkdir -p "${logdir}"

echo "$0: synthesizing ${valid_list} -> ${data_dir}/valid with ${nj} jobs (logs: ${logdir}/synth.*.log)"
${cmd} JOB=1:"${nj}" "${logdir}/synth.JOB.log" \
    python -m espnet2_ext.bin.s5_synthesize render --metadata_list "${valid_list}" \
        --corpus_root "${corpus_root}" --out_dir "${data_dir}/valid" --job JOB --nj "${nj}"

n_meta=$(python -c "import json, sys; print(len(json.load(open(sys.argv[1]))))" "${valid_list}")
n_wav=$(find "${data_dir}/valid/soundscape" -maxdepth 1 -name '*.wav' | wc -l)
[ "${n_wav}" -eq "${n_meta}" ] || {
    echo "$0: ${n_wav} of ${n_meta} validation mixtures present; see ${logdir}/synth.*.log" >&2; exit 1; }

python -m espnet2_ext.bin.s5_synthesize datadir --soundscape_dir "${data_dir}/valid/soundscape" \
    --oracle_target_dir "${data_dir}/valid/oracle_target" --out_dir "${data_dir}/valid" --n_sources "${n_sources}"
python -m espnet2_ext.bin.s5_synthesize datadir --soundscape_dir "${test_dir}/soundscape" \
    --oracle_target_dir "${test_dir}/oracle_target" --out_dir "${data_dir}/test" --n_sources "${n_sources}"
if [ -d "${eval_dir}" ]; then
    python -m espnet2_ext.bin.s5_synthesize datadir --soundscape_dir "${eval_dir}" --out_dir "${data_dir}/eval"
else
    echo "$0: WARNING: ${eval_dir} not found; ${data_dir}/eval is not prepared" >&2
fi
for d in valid test eval; do   # Kaldi's data-dir rules (sorted unique ids, utt2spk/spk2utt, coverage)
    [ -f "${data_dir}/${d}/wav.scp" ] && utils/validate_data_dir.sh --no-text --no-feats "${data_dir}/${d}"
done
echo "$0: prepared ${data_dir}/valid (${n_meta}), ${data_dir}/test$([ -d "${eval_dir}" ] && echo ", ${data_dir}/eval")"
