#!/usr/bin/env bash
# DCASE2026 Task 4 (S5) recipe: tagger (M2D) + label-queried separator (ResUNetK).
#
#   ./run.sh --mini true                       # whole recipe on the built-in mini corpus (CPU)
#   ./run.sh --stage 3 --stop-stage 5          # a range of stages
#   ./run.sh --stage 7 --tagger_ckpt checkpoint/m2dat_4c.ckpt --separator_ckpt checkpoint/resunetk.ckpt
set -euo pipefail

log() {
    local fname=${BASH_SOURCE[1]##*/}
    echo -e "$(date '+%Y-%m-%dT%H:%M:%S') (${fname}:${BASH_LINENO[0]}:${FUNCNAME[1]}) $*"
}
min() { local a b; a=$1; for b in "$@"; do [ "${b}" -lt "${a}" ] && a=${b}; done; echo "${a}"; }

# ---- options (override with --name value; see --help) ----
stage=1                # first stage to run
stop_stage=8           # last stage to run
mini=false             # true: build and use the embedded mini corpus, mini configs (CPU, minutes)
mini_seed=0            # seed of the mini corpus
nj=4                   # parallel jobs for data preparation, synthesis and decoding
ngpu=0                 # GPUs per training job (0 = CPU); >1 uses DDP
num_nodes=1            # nodes per training job (Slurm, through srun)
gpu_inference=false    # decode with ${cuda_cmd} --gpu 1 instead of ${decode_cmd}
local_data_dir=        # stage 1: link an already extracted corpus (folder holding dev_set/ and eval_set/)
download_baseline_ckpt=false  # stage 1: also fetch the official baseline checkpoints
semhear_path=          # stage 2: Semantic Hearing BinauralCuratedDataset folder
ears_path=             # stage 2: EARS folder (p001 ... p107)
tagger_variants="1c 4c"  # stages 4-5: which taggers to train
tagger_variant=4c      # stages 7-8: which tagger decodes
official_resume=false  # stage 5: resume the stage-4 optimizer state like the official -r flag
tag_args=              # extra arguments for the tagger trainer (e.g. "--max_epoch 10")
sep_args=              # extra arguments for the separator trainer
tagger_ckpt=           # stages 7-8: decode with this tagger (official .ckpt or our .pth) instead of exp/
separator_ckpt=        # stages 7-8: decode with this separator instead of exp/
m2d_weight_file=       # M2D weight file (default: checkpoint/<official folder>/weights_*.pth)
test_sets="test eval"  # stage 7: sets to decode (test = dev test set with references)
submission=false       # stage 8: also build the submission package
author=Author          # stage 8 submission: <author>_<affiliation>_task4_<N>
affiliation=Affiliation
submission_number=1
expdir=exp
datadir=data

help_message=$(cat <<EOF
Usage: $0 [options]
Stages:
  1  download the corpus and M2D weights (or build the mini corpus with --mini true)
  2  add external data (Semantic Hearing, EARS)
  3  synthesize the validation set and prepare data/ directories
  4  train the audio tagger head (M2D frozen)
  5  fine-tune the tagger's last 2 blocks from the best stage-4 model
  6  train the label-queried separator (ResUNetK, class-aware PIT)
  7  decode: tagger -> separator on the dev test and eval sets
  8  score (CAPI-SDRi, label accuracies, RESULTS.md) and optionally package a submission
Options:
  --stage N / --stop-stage N    stages to run (default ${stage}..${stop_stage})
  --mini true|false             use the built-in mini corpus and conf/mini/ (default ${mini})
  --nj N                        parallel jobs (default ${nj})
  --ngpu N --num_nodes N        training resources (default ${ngpu} GPU, ${num_nodes} node)
  --local_data_dir DIR          stage 1: use an extracted corpus already on disk
  --download_baseline_ckpt B    stage 1: also download the official checkpoints
  --semhear_path P --ears_path E  stage 2 inputs
  --tagger_variants "1c 4c"     stages 4-5
  --official_resume B           stage 5: official -r behaviour (old optimizer state, lr 1e-3)
  --tagger_variant 1c|4c        stages 7-8
  --tagger_ckpt F --separator_ckpt F  stages 7-8: decode with these checkpoints, no training
  --submission true --author A --affiliation F --submission_number N  stage 8 package
Backends: edit cmd.sh or export cmd_backend=local|slurm.
EOF
)

. ./path.sh
. ./cmd.sh
. ./db.sh
. utils/parse_options.sh

if [ $# -ne 0 ]; then
    log "Error: unexpected positional arguments: $*"; echo "${help_message}"; exit 2
fi
for s in "${stage}" "${stop_stage}"; do
    if ! [[ "${s}" =~ ^[0-9]+$ ]] || [ "${s}" -lt 1 ] || [ "${s}" -gt 8 ]; then
        log "Error: stages are 1..8, got --stage ${stage} --stop-stage ${stop_stage}"; exit 2
    fi
done

if "${mini}"; then
    DCASE2026T4=${DCASE2026T4_MINI:-mini/corpus}
    confdir=conf/mini
else
    confdir=conf/tuning
fi
dev_set=${datadir}/dev_set
eval_set=${datadir}/eval_set

not_implemented() {
    log "Error: stage $1 ($2) is not implemented yet in this recipe; see the project's issues."
    exit 3
}

if [ "${stage}" -le 1 ] && [ "${stop_stage}" -ge 1 ]; then
    log "Stage 1: corpus and M2D weights -> ${DCASE2026T4}, ${datadir}/{dev_set,eval_set}"
    local/download.sh --mini "${mini}" --mini_seed "${mini_seed}" --corpus_dir "${DCASE2026T4}" \
        --local_data_dir "${local_data_dir}" --checkpoint_dir checkpoint \
        --download_baseline_ckpt "${download_baseline_ckpt}" --data_dir "${datadir}"
fi

if [ "${stage}" -le 2 ] && [ "${stop_stage}" -ge 2 ]; then
    log "Stage 2: add external data (Semantic Hearing, EARS) -> ${dev_set}"
    local/add_external_data.sh --cmd "${train_cmd}" --nj "${nj}" --mini "${mini}" \
        --semhear_path "${semhear_path:-${SEMHEAR}}" --ears_path "${ears_path:-${EARS}}" \
        --dev_set "${dev_set}" --logdir "${expdir}/add_external_data"
fi

if [ "${stage}" -le 3 ] && [ "${stop_stage}" -ge 3 ]; then
    log "Stage 3: synthesize validation mixtures and prepare ${datadir}/{valid,test,eval}"
    local/synthesize.sh --cmd "${decode_cmd}" --nj "${nj}" --dev_set "${dev_set}" \
        --eval_set "${eval_set}" --data_dir "${datadir}" --logdir "${expdir}/synthesize"
fi

if [ "${stage}" -le 4 ] && [ "${stop_stage}" -ge 4 ]; then
    not_implemented 4 "train AT head"
fi

if [ "${stage}" -le 5 ] && [ "${stop_stage}" -ge 5 ]; then
    not_implemented 5 "fine-tune AT blocks"
fi

if [ "${stage}" -le 6 ] && [ "${stop_stage}" -ge 6 ]; then
    not_implemented 6 "train SS"
fi

if [ "${stage}" -le 7 ] && [ "${stop_stage}" -ge 7 ]; then
    not_implemented 7 "decode"
fi

if [ "${stage}" -le 8 ] && [ "${stop_stage}" -ge 8 ]; then
    not_implemented 8 "score"
fi

log "Successfully finished stages ${stage}-${stop_stage}"
