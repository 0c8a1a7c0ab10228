"""run.sh's checks of option values that become arguments or folder names (rules: espnet2_ext/validate.py).

    python -m espnet2_ext.bin.s5_options words --sep_args "--max_epoch 300 --optim_conf lr=3.0e-4"
        the trainer arguments in the value, one a line (split like a shell, nothing expanded or run)
    python -m espnet2_ext.bin.s5_options suffix "--max_epoch 300"
        the value's compact form in an experiment tag: _max_epoch300
    python -m espnet2_ext.bin.s5_options tags --sep_tag resunetk --inference_tag "" ...
        checks that every non-empty value is a tag (one plain folder name), prints nothing

Every argument after the subcommand is taken as it is (values may start with "--").
Bad input: one ``ERROR: run.sh: <option> = <value> <problem>; <fix>`` line on stderr, exit 2.
"""
from __future__ import annotations

import sys
from typing import List, Optional, Sequence

from espnet2_ext import validate
from espnet2_ext.errors import S5InputError, cli_main

WHERE = "run.sh"
#: How to mend an unsafe tag, by option (a default tag is derived from a config name and extra arguments).
TAG_FIX = {"--tag_tag": "pass --tag_tag NAME (by default the tagger variant or --tag_head_config name + "
                        "a compact form of --tag_args)",
           "--sep_tag": "pass --sep_tag NAME (by default the --sep_config name + a compact form of --sep_args)"}


def words(option: str, value: str) -> List[str]:
    """The extra trainer arguments held by ``value`` (see :func:`validate.split_args`)."""
    return validate.split_args(value, WHERE, option)


def check_tags(pairs: Sequence[str]) -> None:
    """``pairs`` = option, value, option, value, ...: every non-empty value must be a tag."""
    if len(pairs) % 2:
        raise S5InputError(f"s5_options tags: option/value pairs expected, got {len(pairs)} arguments")
    for option, value in zip(pairs[::2], pairs[1::2]):
        if value:
            validate.tag(value, WHERE, option, TAG_FIX.get(option, f"give {option} another value"))


@cli_main
def main(cmd: Optional[Sequence[str]] = None) -> None:
    argv = list(sys.argv[1:] if cmd is None else cmd)
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command == "words" and len(rest) == 2:
        sys.stdout.write("".join(f"{word}\n" for word in words(*rest)))
    elif command == "suffix" and len(rest) == 1:
        print(validate.args_suffix(rest[0]))
    elif command == "tags":
        check_tags(rest)
    else:
        raise S5InputError(f"s5_options: usage: words OPTION VALUE | suffix VALUE | tags [OPTION VALUE]... "
                           f"(got {argv!r})")


if __name__ == "__main__":
    main()
