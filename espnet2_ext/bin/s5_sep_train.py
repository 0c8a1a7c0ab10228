"""Train the S5 label-queried separator with espnet2's trainer (like espnet2/bin/*_train.py)."""
from espnet2_ext.tasks.s5_sep import S5SeparationTask


def main(cmd=None):
    """Parse the command line (or ``cmd``) and run training."""
    S5SeparationTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
