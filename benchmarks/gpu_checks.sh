#!/usr/bin/env bash
# The checks that need a CUDA GPU, in one run (estimated at about 9 minutes on one H200: not yet
# timed there; split it with --only where one run may take at most 10 minutes):
#   bash benchmarks/gpu_checks.sh [LOG_DIR]
#   OFFICIAL_DIR=/path/to/official_tree OFFICIAL_PYTHON=/path/to/its/python bash benchmarks/gpu_checks.sh
#     (also times the official training in step 4: about 1.5 minutes more)
# 1. the CUDA tests of the suite (renderer, separator parity, tagger, loss, training with
#    --ngpu 1 in float32 and with --use_amp, render_on_device on CUDA);
# 2. benchmarks/synth_throughput.py --device cuda for a separator and a tagger config;
# 3. benchmarks/inference_rtf.py --devices cuda --breakdown --bf16 (also the opt-in bf16 decoding);
# 4. benchmarks/train_throughput.py --device cuda: training items/s of the tagger head and the
#    separator at the official settings (fp32 with the loader rendering, render_on_device, bf16 +
#    channels_last + torch.compile; the official Lightning training too with OFFICIAL_DIR), about
#    3-4 minutes; its rows also go to LOG_DIR/train_throughput.json, each row's training log to
#    LOG_DIR/train_throughput_logs/.
# Each step's output goes to LOG_DIR/<step>.log (default: /tmp/gpu_checks); the script
# ends non-zero if a step failed. Figures from these logs go into benchmarks/README.md.
#
#   bash benchmarks/gpu_checks.sh --smoke [LOG_DIR]
# runs the same four steps on the CPU at tiny sizes (the CUDA tests only collected), so
# that the script, its test ids and every flag are checked before a GPU session
# (tests/benchmarks/test_gpu_checks.py; about 2 minutes on 2 cores). Not figures.
#
#   bash benchmarks/gpu_checks.sh --only train_throughput,cuda_tests [LOG_DIR]
# runs only the named steps (cuda_tests, synth, inference_rtf, train_throughput), e.g. to split
# the checks over two runs of at most 10 minutes each.
set -u
smoke=false
only=cuda_tests,synth,inference_rtf,train_throughput
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) smoke=true; shift ;;
        --only) only=${2:-}; shift 2 || { echo "ERROR: --only needs a list of steps" >&2; exit 2; } ;;
        -*) echo "ERROR: unknown option $1 (--smoke, --only STEPS)" >&2; exit 2 ;;
        *) break ;;
    esac
done
for name in ${only//,/ }; do
    case "${name}" in
        cuda_tests|synth|inference_rtf|train_throughput) ;;
        *) echo "ERROR: --only: unknown step '${name}' (cuda_tests, synth, inference_rtf, train_throughput)" >&2; exit 2 ;;
    esac
done
log_dir=${1:-/tmp/gpu_checks}
mkdir -p "${log_dir}"
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
failed=0

selected() { [[ ",${only}," == *",$1,"* ]]; }   # selected STEP: --only names it

step() {  # step NAME COMMAND...: run it, keep its output, note a failure
    local name=$1; shift
    echo "== ${name}: $*"
    if ! "$@" > "${log_dir}/${name}.log" 2>&1; then
        echo "   FAILED (see ${log_dir}/${name}.log)"; failed=1
    fi
    tail -n 25 "${log_dir}/${name}.log"
}

if "${smoke}"; then
    device=cpu
    collect=(--collect-only)          # the CUDA tests' ids are checked, not run
    synth_sizes=(--batch_size 2 --n 2 --n_cold 1 --n_reference 1 --n_real 2 --rounds 1)
    rtf_sizes=(--batch_sizes 1 --repeats 1 --seconds 0.5 --threads 1)
    train_sizes=(--rows fp32,device --mini true --steps 1 --warmup 0 --batch_size 2 --clip_seconds 2
                 --num_workers 1 --threads 1)
else
    nvidia-smi -L || { echo "ERROR: no NVIDIA GPU here (nvidia-smi failed)"; exit 1; }
    device=cuda
    collect=()
    synth_sizes=(--batch_size 32 --n 96 --n_cold 8 --n_reference 3 --rounds 3)
    rtf_sizes=(--batch_sizes 1 8 --repeats 3)
    train_sizes=(--rows fp32,device,fast,official --steps 10)
fi
selected cuda_tests && step cuda_tests "${python}" -m pytest -q -p no:cacheprovider -rs "${collect[@]}" \
    tests/synth/test_torch_render.py tests/tasks/test_cuda_training.py \
    "tests/s5/separator/test_resunetk.py::test_parity_2s_cuda" \
    "tests/s5/tagger/test_m2d_tagger.py::test_cuda_matches_cpu" \
    "tests/s5/loss/test_capi_pit.py::test_cuda_matches_cpu"
for conf in sep_resunetk tag_head_4c; do
    selected synth || break
    step "synth_${conf}" env OMP_NUM_THREADS=1 "${python}" benchmarks/synth_throughput.py \
        --config "egs2/dcase26t4/s5/conf/tuning/${conf}.yaml" --device "${device}" "${synth_sizes[@]}"
done
selected inference_rtf && step inference_rtf "${python}" benchmarks/inference_rtf.py --devices "${device}" "${rtf_sizes[@]}" --breakdown --bf16
official=()
if [ -n "${OFFICIAL_DIR:-}" ]; then
    official=(--official "${OFFICIAL_DIR}" --official_python "${OFFICIAL_PYTHON:-${python}}")
fi
selected train_throughput && step train_throughput "${python}" benchmarks/train_throughput.py --device "${device}" "${train_sizes[@]}" \
    --json "${log_dir}/train_throughput.json" --logs "${log_dir}/train_throughput_logs" \
    ${official[@]+"${official[@]}"}
echo "gpu_checks$("${smoke}" && echo " --smoke"): ${SECONDS} s in all$([ "${failed}" = 0 ] || echo ", a step FAILED")"
exit ${failed}
