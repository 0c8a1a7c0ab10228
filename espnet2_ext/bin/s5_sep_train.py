"""Train the S5 label-queried separator with espnet2's trainer (like espnet2/bin/*_train.py)."""
from espnet2_ext.errors import cli_main
from espnet2_ext.tasks.s5_sep import S5SeparationTask


@cli_main
def main(cmd=None):
    """Parse the command line (or ``cmd``) and run training (bad input: ``ERROR: ...``, exit 2)."""
    S5SeparationTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
