# Sourced by run.sh: project venv, utils/ on PATH, single-threaded BLAS per job.
# The repository root, found through the recipe's utils -> <repo>/utils link, so that a
# copy of this recipe folder elsewhere still finds the project's tools/ and utils/.
MAIN_ROOT=$(cd -P "$(dirname "${BASH_SOURCE[0]}")/utils/.." && pwd)
export MAIN_ROOT
if [ -f "${MAIN_ROOT}/tools/activate_python.sh" ]; then
    . "${MAIN_ROOT}/tools/activate_python.sh"
elif [ -z "${DCASE26T4_NO_VENV:-}" ]; then
    echo "path.sh: ${MAIN_ROOT}/tools/activate_python.sh not found; run 'make -C tools' from the repository root first" >&2
    return 1 2>/dev/null || exit 1
fi
export PATH="${PWD}/utils:${PATH}"
export LC_ALL=C
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export PYTHONIOENCODING=UTF-8
export PYTHONUNBUFFERED=1
