"""Train the S5 audio tagger with espnet2's trainer (like espnet2/bin/*_train.py)."""
from espnet2_ext.errors import cli_main
from espnet2_ext.tasks.s5_tag import S5TaggingTask


@cli_main
def main(cmd=None):
    """Parse the command line (or ``cmd``) and run training (bad input: ``ERROR: ...``, exit 2)."""
    S5TaggingTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
