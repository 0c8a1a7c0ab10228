"""Dict-valued training options (``--optim_conf``, ``--tagger_conf``, ``--train_data_conf``...) read safely.

espnet2's :class:`~espnet2.utils.nested_dict_action.NestedDictAction` reads a value with
``eval()`` (Python syntax) and then ``yaml.load(..., Loader=yaml.Loader)``: a value such as
``--optim_conf "__import__('os').system('...') or {}"`` or
``--optim_conf '!!python/object/apply:os.system ["..."]'`` runs code while the command line
is parsed. :class:`SafeNestedDictAction` accepts the same forms (``key=value``,
``a.b=value``, a Python dict literal, a YAML mapping) through :func:`ast.literal_eval` and
:func:`yaml.safe_load` only; anything else is one :class:`S5InputError` naming the option.
:func:`use_safe_dict_options` swaps it in for every such option of a parser (espnet2's
``AbsTask.get_parser`` and the ``ClassChoices`` options create NestedDictAction directly).

Config files (``--config``) are read by espnet2's ``config_argparse`` with ``yaml.safe_load``,
and checked before that by :func:`espnet2_ext.tasks.s5_abs_task.check_config_yaml` with
:func:`espnet2_ext.fileio.read_yaml_mapping` (``yaml.safe_load`` too).
"""
from __future__ import annotations

import argparse
import ast
import copy

import yaml

from espnet2_ext.errors import S5InputError
from espnet2_ext.espnet_compat import quiet_import

NestedDictAction = quiet_import("espnet2.utils.nested_dict_action").NestedDictAction

_FORMS = "give key=value, a.b=value, or a mapping such as '{lr: 0.001}' (plain YAML or a Python dict literal)"


def _safe_yaml(text: str, option: str, given: str) -> object:
    """``yaml.safe_load(text)``; a tag such as ``!!python/...`` or a syntax error is an S5InputError
    naming the option and its whole value ``given``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        reason = " ".join(str(e).split())
        raise S5InputError(f"{option} {given!r} is not plain YAML ({reason}); {_FORMS}; "
                           f"tags such as !!python/... are refused") from e


def _mapping(text: str, option: str) -> dict:
    """A whole-mapping value: a Python dict literal, else a YAML mapping (both without code)."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = _safe_yaml(text, option, text)
    if not isinstance(value, dict):
        raise S5InputError(f"{option} {text!r} is not a mapping; {_FORMS}")
    return value


class SafeNestedDictAction(NestedDictAction):
    """espnet2's NestedDictAction without ``eval`` and unsafe YAML (same accepted forms)."""

    def __call__(self, parser, namespace, values, option_string=None):
        option = option_string or "/".join(self.option_strings)
        if "=" in values:                       # --option a.b=<yaml>  ->  {'a': {'b': <value>}}
            indict = copy.deepcopy(getattr(namespace, self.dest, {}))
            indict = indict if isinstance(indict, dict) else {}
            key, text = values.split("=", maxsplit=1)
            value = text if text.strip() == "" else _safe_yaml(text, option, values)
            *parents, last = key.split(".")
            node = indict
            for k in parents:
                if not isinstance(node.setdefault(k, {}), dict):
                    node[k] = {}                # a scalar is replaced by a mapping
                node = node[k]
            node[last] = value
            setattr(namespace, self.dest, indict)
            return
        value = _mapping(values, option)
        current = getattr(namespace, self.dest, None)
        if isinstance(current, dict):
            current.update(value)
        else:
            setattr(namespace, self.dest, value)


def use_safe_dict_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every NestedDictAction option of ``parser`` a :class:`SafeNestedDictAction`; return it."""
    for action in parser._actions:
        if isinstance(action, NestedDictAction) and not isinstance(action, SafeNestedDictAction):
            action.__class__ = SafeNestedDictAction
    return parser
