# Job backends (Kaldi/ESPnet style). Pick one with cmd_backend:
#   local : run.pl   (this machine; parallel jobs up to the CPU count)
#   slurm : slurm.pl (sbatch; generic options mapped by conf/slurm.conf)
# Roles: train_cmd = CPU jobs (data prep), cuda_cmd = training (gets --gpu N),
#        decode_cmd = inference and scoring.
cmd_backend=${cmd_backend:-local}

case "${cmd_backend}" in
    local)
        export train_cmd="run.pl"
        export cuda_cmd="run.pl"
        export decode_cmd="run.pl"
        ;;
    slurm)
        export train_cmd="slurm.pl --config conf/slurm.conf"
        export cuda_cmd="slurm.pl --config conf/slurm.conf"
        export decode_cmd="slurm.pl --config conf/slurm.conf"
        ;;
    *)
        echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (use local or slurm)" >&2
        return 1 2>/dev/null || exit 1
        ;;
esac
