#!/usr/bin/env bash
# Train one S5 model with espnet2 (through espnet2.bin.launch, so ngpu > 1 uses DDP
# and num_nodes > 1 uses srun under slurm.pl), then print its learning figures.
# --cpu_procs N (with --ngpu 0) trains with N CPU processes instead, started by torchrun
# (DDP on the gloo backend): the same distributed code path as N GPUs, on any machine.
# batch_size in the config is per process (per GPU), as in the official configs.
#
#   local/train.sh --task tag|sep --config conf/x.yaml --exp exp/x --valid_data_dir data/valid \
#       [--cmd "${cuda_cmd}"] [--ngpu N] [--num_nodes N] [--cpu_procs N] [--num_threads N] [--init_param F]
#       [--overwrite true]   (the trainer stops if --exp holds a training of other settings; true: redo it)
#       [-- TRAINER_ARGS...] (extra trainer arguments, e.g. -- --max_epoch 10: each reaches the trainer
#                             as one argument, through the launcher and ${cmd}; none is run by a shell)
set -euo pipefail

task=
config=
exp=
valid_data_dir=
cmd=run.pl
ngpu=0
num_nodes=1
cpu_procs=1
num_threads=1      # CPU threads of the training process (OMP_NUM_THREADS, so torch's intra-op threads)
overwrite=false
init_param=
help_message="Usage: $0 --task tag|sep --config YAML --exp DIR --valid_data_dir DIR [options] [-- TRAINER_ARGS...]"
. utils/parse_options.sh
extra_args=("$@")

case "${task}" in tag|sep) ;; *) echo "$0: --task must be tag or sep (got '${task}')" >&2; exit 2;; esac
for f in "${config}" "${valid_data_dir}/wav.scp"; do
    [ -f "${f}" ] || { echo "$0: ${f} not found (run the earlier stages first)" >&2; exit 1; }
done
if ! [[ "${cpu_procs}" =~ ^[1-9][0-9]*$ ]]; then
    echo "ERROR: --cpu_procs must be a positive integer (got '${cpu_procs}')" >&2; exit 2
fi
if ! [[ "${num_threads}" =~ ^[1-9][0-9]*$ ]]; then
    echo "ERROR: --num_threads must be a positive integer (got '${num_threads}')" >&2; exit 2
fi
if [ "${cpu_procs}" -gt 1 ] && { [ "${ngpu}" != 0 ] || [ "${num_nodes}" != 1 ]; }; then
    echo "ERROR: --cpu_procs ${cpu_procs} trains on CPUs of one node: use it with --ngpu 0 --num_nodes 1" >&2; exit 2
fi
mkdir -p "${exp}"

init_opt=()
[ -n "${init_param}" ] && init_opt=(--init_param "${init_param}")
# the thread count travels with the command (Slurm jobs see only PATH and what path.sh sets)
threads=(env "OMP_NUM_THREADS=${num_threads}")
slots=()
[ "${num_threads}" -gt 1 ] && slots=(--num_threads "${num_threads}")
train=(python -m "espnet2_ext.bin.s5_${task}_train" --config "${config}" --output_dir "${exp}"
       --valid_data_dir "${valid_data_dir}" --ngpu "${ngpu}" --resume true --overwrite "${overwrite}"
       "${init_opt[@]}")
# A failed training prints the trainer's ERROR line (or the end of its log), not the launcher's traceback.
failed() {
    if grep -q '^ERROR: ' "${exp}/train.log" 2>/dev/null; then
        echo "$0: training in ${exp} failed; the log is ${exp}/train.log:" >&2
        grep '^ERROR: ' "${exp}/train.log" | sort -u >&2
    else
        echo "ERROR: training in ${exp} failed; the end of its log ${exp}/train.log:" >&2
        tail -n 20 "${exp}/train.log" >&2
    fi
    exit 1
}
if [ "${cpu_procs}" -gt 1 ]; then
    # one job, N ranks on this node (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR/PORT)
    # shellcheck disable=SC2086
    ${cmd} --num_threads "$(( cpu_procs * num_threads ))" --name "${exp}" "${exp}/train.log" \
        "${threads[@]}" python -m torch.distributed.run --standalone --nproc_per_node "${cpu_procs}" \
            -m "espnet2_ext.bin.s5_${task}_train" "${train[@]:3}" \
            --multiprocessing_distributed false --dist_backend gloo "${extra_args[@]}" 2>"${exp}/launch.log" || failed
else
    # the launcher splits --cmd like a shell (shlex): the job name goes in as one single-quoted word
    name_word="'${exp//\'/\'\\\'\'}'"   # each ' inside written '\''
    python -m espnet2.bin.launch --cmd "${cmd} ${slots[*]} --name ${name_word}" --log "${exp}/train.log" \
        --ngpu "${ngpu}" --num_nodes "${num_nodes}" --init_file_prefix "${exp}/.dist_init_" \
        --multiprocessing_distributed true -- "${threads[@]}" "${train[@]}" "${extra_args[@]}" >"${exp}/launch.log" 2>&1 || failed
fi

python -m espnet2_ext.bin.s5_train_summary --exp "${exp}" | tee "${exp}/learning_figures.txt"
