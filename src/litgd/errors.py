"""Refusals in one line: what was wrong, and what would be right."""

import re

from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator


class ConfigError(Exception):
    """A value the parser accepted but a class refused when built (e.g. an unavailable accelerator)."""


def with_accelerator_hint(message: str) -> str:
    """Lightning says what went wrong with an accelerator; add what this machine does have."""
    if re.search(r"accelerator|backend|gpu|cuda|mps|tpu", message, flags=re.IGNORECASE):
        available = ["cpu"] + [
            name for name, acc in (("cuda", CUDAAccelerator), ("mps", MPSAccelerator)) if acc.is_available()
        ]
        message += f" Available for --trainer.accelerator on this machine: {', '.join(available)}, auto."
    return message


def one_paragraph(message: str) -> str:
    """jsonargparse explains a refusal over many lines (one per union member); keep the key and the reason."""
    keys = [key for key in re.findall(r'Parser key "([^"]+)"', message)]
    if "arguments are required" in message:
        return f"{message.strip()}: give a config (e.g. --config configs/random_relu.yaml) or --model and --data"
    if unknown := re.search(r"Option '([^']+)' is not accepted", message):
        return f"{'.'.join([*keys, unknown.group(1)])}: no such key"
    given = re.search(r"Got value: (.*)|val='([^']*)'|Given value: (.*)", message)
    given = next(group for group in given.groups() if group is not None) if given else "?"
    if choices := re.findall(r"Expected a typing\.Literal\[(.*?)\]", message):
        return f"{'.'.join(keys)}: expected one of {', '.join(choices)}; got {given}"
    if reason := re.search(r"Not of type (\w+): (.*)", message):
        return f"{'.'.join(keys)}: {reason.group(2)} (expected {reason.group(1)})"
    return " ".join(line.strip() for line in message.splitlines())
