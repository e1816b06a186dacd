"""A stand-in for `vllm serve`'s parser, for judging runwayc's model of it.

The argparse half is Python's own argparse, with the actions of the option table runwayc ships
(policies/vllm-serve-options.json) registered in their order. The rewriting half follows
vLLM's FlexibleArgumentParser.parse_args (vllm/utils/argparse_utils.py) step by step, written
out here again rather than imported, so that a slip in compiler.core.vllm_args shows up as a
disagreement instead of being shared.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from typing import Any

from compiler.io.workspace import POLICIES_DIR, data_dir

TABLE: dict[str, Any] = json.loads(
    (data_dir(POLICIES_DIR) / "vllm-serve-options.json").read_text(encoding="utf-8")
)


class Refused(Exception):
    """vLLM would exit (argparse's error, or an exception in its rewriting)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise Refused(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm serve", add_help=False, exit_on_error=False, allow_abbrev=True)
    p.add_argument("model_tag", nargs="?")
    for option in TABLE["options"]:
        strings, dest, action = option["strings"], option["dest"], option["action"]
        if action == "boolean_optional":
            positive = [s for s in strings if not s.startswith("--no-")]
            p.add_argument(*positive, dest=dest, action=argparse.BooleanOptionalAction)
        elif action in ("store_true", "help"):
            p.add_argument(*strings, dest=dest, action="store_true")
        elif action == "append":
            p.add_argument(*strings, dest=dest, action="append")
        else:
            nargs = {"one": None, "optional": "?", "many": "+"}[option["arity"]]
            extra: dict[str, Any] = {"const": True} if nargs == "?" else {}
            p.add_argument(*strings, dest=dest, nargs=nargs, **extra)
    return p


PARSER = parser()


def _human_readable_int(value: str) -> int:
    value = value.strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT])", value)
    if match:
        number, suffix = match.groups()
        decimal = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
        binary = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        if suffix in decimal:
            return int(float(number) * decimal[suffix])
        return int(number) * binary[suffix]
    return int(value)


def rewrite(args: list[str]) -> list[str]:
    """vLLM's rewriting of `serve <args>` (without the `serve`)."""
    args = ["serve", *args]
    model_idx = next((i for i, a in enumerate(args) if re.match(r"^--model(=.+|$)", a)), None)
    if model_idx is not None:
        if args[model_idx] == "--model":
            if model_idx + 1 >= len(args) or args[model_idx + 1].startswith("-"):
                raise Refused("argument --model: expected one argument")
            model_tag, rest = args[model_idx + 1], model_idx + 2
        else:
            model_tag, rest = args[model_idx].removeprefix("--model="), model_idx + 1
        args = ["serve", model_tag, *args[1:model_idx], *args[rest:]]
    if args.count("--config") > 1:
        raise Refused("More than one config file specified!")
    pattern = re.compile(r"(?<=--)[^\.]*")
    processed: list[str] = []
    for i, arg in enumerate(args):
        if arg.startswith("--help="):
            processed.append("--help")
        elif arg.startswith("--"):
            if "=" in arg:
                key, value = arg.split("=", 1)
                key = pattern.sub(lambda m: m.group(0).replace("_", "-"), key, count=1)
                processed.append(f"{key}={value}")
            else:
                processed.append(pattern.sub(lambda m: m.group(0).replace("_", "-"), arg, count=1))
        elif arg.startswith("-O") and arg != "-O":
            processed += ["--optimization-level", arg[3:] if arg[2] == "=" else arg[2:]]
        elif arg == "-O" and i + 1 < len(args) and args[i + 1] in {"0", "1", "2", "3"}:
            processed.append("--optimization-level")
        else:
            processed.append(arg)

    def update(original: dict[str, Any], new: dict[str, Any]) -> None:
        for k, v in new.items():
            if isinstance(v, dict) and isinstance(original.get(k), dict):
                update(original[k], v)
            elif isinstance(v, list) and isinstance(original.get(k), list):
                original[k] += v
            else:
                original[k] = v

    delete: set[int] = set()
    dict_args: defaultdict[str, dict[str, Any]] = defaultdict(dict)
    for i, arg in enumerate(processed):
        if i in delete:
            continue
        if arg.startswith("--") and "." not in arg:
            continue
        if arg.startswith("-") and "." in arg:
            if "=" in arg:
                arg, value_str = arg.split("=", 1)
                if "." not in arg:
                    continue
            else:
                if i + 1 >= len(processed):
                    raise Refused("IndexError: a dotted argument without a value")
                value_str = processed[i + 1]
                delete.add(i + 1)
            if arg.endswith("+"):
                arg = arg[:-1]
                value_str = json.dumps(list(value_str.split(",")))
            key, *keys = arg.split(".")
            parsed: Any
            try:
                parsed = json.loads(value_str)
            except json.JSONDecodeError:
                try:
                    parsed = _human_readable_int(value_str)
                except ValueError:
                    parsed = value_str
            nested: Any = parsed
            for k in reversed(keys):
                nested = {k: nested}
            update(dict_args[key], nested)
            delete.add(i)
    processed = [a for i, a in enumerate(processed) if i not in delete]
    for key, tree in dict_args.items():
        processed += [key, json.dumps(tree)]
    return processed[1:]


def serve(args: list[str]) -> dict[str, Any]:
    """The options `vllm serve <args>` ends up with, or Refused."""
    try:
        namespace, extras = PARSER.parse_known_args(rewrite(args))
    except argparse.ArgumentError as exc:
        raise Refused(str(exc)) from None
    if extras:
        raise Refused(f"unrecognized arguments: {' '.join(extras)}")
    values = vars(namespace)
    if values.get("help"):
        raise Refused("help")
    return values


def listens_as_rendered(values: dict[str, Any]) -> bool:
    """HTTP on 0.0.0.0:8000, as the Service and probes expect."""
    return (
        values["host"] == "0.0.0.0"
        and values["port"] == "8000"
        and values["uds"] is None
        and values["config"] is None
        and not values["grpc"]
        and not values["headless"]
        and values["ssl_keyfile"] is None
        and values["ssl_certfile"] is None
        and not values["data_parallel_multi_port_external_lb"]
    )
