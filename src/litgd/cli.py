"""The ``litgd`` command: LightningCLI around ``GradientDescent`` and ``SeedDataModule``.

    litgd fit --config configs/random_relu.yaml
    litgd fit --config configs/regression.yaml --trainer.accelerator gpu --trainer.devices 1

Exit status: 0 done, 2 bad configuration or flag, 3 training diverged, 128 + N stopped by signal N.
"""

import importlib
import inspect
import signal
import sys
import typing
import warnings
from argparse import ArgumentError
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException

from litgd.callbacks import LastCheckpoint
from litgd.errors import ConfigError, one_paragraph, with_accelerator_hint
from litgd.interrupts import SignalGuard
from litgd.predictions import CSVPredictionWriter
from litgd.system import Diverged

LINKED = ("input_dim", "output_dim")  # data.<key> sizes model.<key>

# jsonargparse keeps a value's restricted type (e.g. PositiveInt, a subclass of int) when `--model other.Class`
# carries it over to a class that takes a plain int, and YAML then cannot write it: dump such values as numbers.
yaml.SafeDumper.add_multi_representer(int, yaml.SafeDumper.represent_int)
yaml.SafeDumper.add_multi_representer(float, yaml.SafeDumper.represent_float)


def _input_dim(data) -> int:
    return _dimension(data, "input_dim")


def _output_dim(data) -> int:
    return _dimension(data, "output_dim")


def _dimension(data, name: str) -> int:
    if not isinstance(getattr(data, name, None), int):
        raise ValueError(
            f"{type(data).__name__} has no integer `{name}` attribute: a data module must expose `input_dim` and "
            "`output_dim`, which size the model (see README, 'Make it yours')."
        )
    return int(getattr(data, name))


class CLI(LightningCLI):
    def __init__(self, *args, guard: SignalGuard, **kwargs) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser) -> None:
        # Any data module with `input_dim`/`output_dim` attributes sizes the model: they cannot disagree.
        for key, compute in zip(LINKED, (_input_dim, _output_dim), strict=True):
            parser.link_arguments("data", f"model.init_args.{key}", compute_fn=compute, apply_on="instantiate")
        parser.add_lightning_class_args(LastCheckpoint, "checkpoint")
        # Only last.ckpt, at each epoch's end and when fit ends, whatever ended it.
        parser.set_defaults(
            {"checkpoint.save_last": True, "checkpoint.save_top_k": 0, "checkpoint.save_on_train_epoch_end": True}
        )

    def before_instantiate_classes(self) -> None:
        # jsonargparse lets `null` through for a subclass's typed arguments; refuse it where None is no option.
        config = self.config[self.subcommand] if self.subcommand else self.config
        for group in ("model", "data"):
            if (spec := config.get(group)) is None:
                continue
            module, _, class_name = spec.class_path.rpartition(".")
            signature = inspect.signature(getattr(importlib.import_module(module), class_name))
            for key, value in (spec.get("init_args") or {}).items():
                if group == "model" and key in LINKED:
                    continue  # filled from the data module when it is built
                param = signature.parameters.get(key)
                if value is None and param is not None and not _admits_none(param.annotation):
                    expected = getattr(param.annotation, "__name__", param.annotation)
                    raise ConfigError(f"{group}.{key}: null is not allowed (expected {expected})")

    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (MisconfigurationException, ValueError, ImportError) as err:  # not TypeError: user bugs keep tracebacks
            raise ConfigError(with_accelerator_hint(str(err))) from err

    def before_fit(self) -> None:
        if self.guard.signum is not None:  # arrived during start-up: stop before the first step
            raise SIGTERMException

    def before_predict(self) -> None:
        self.trainer.callbacks.append(CSVPredictionWriter())  # predict only: a callback costs every step of fit

    def after_fit(self) -> None:
        if getattr(self.model, "divergence_message", None):
            raise Diverged(self.model.divergence_message)

    def instantiate_trainer(self, **kwargs):
        trainer = self.guard.trainer = super().instantiate_trainer(**kwargs)
        trainer.callbacks.append(self.guard)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                _reserve_version(logger)
        return trainer


def _admits_none(annotation) -> bool:
    return annotation is inspect.Parameter.empty or type(None) in typing.get_args(annotation)


def _reserve_version(logger) -> None:
    """Claims the logger's next ``version_N`` folder with an atomic mkdir.

    Lightning picks "highest existing version + 1", so two runs started at once into one root would share
    a folder and overwrite each other's config, events and checkpoints. A user-chosen version is left alone.
    """
    if getattr(logger, "_version", 0) is not None or not hasattr(logger, "_get_next_version"):
        return
    version = logger._get_next_version()
    while True:
        try:
            Path(logger.root_dir, f"version_{version}").mkdir(parents=True)
            break
        except FileExistsError:
            version += 1
        except OSError as err:
            raise ConfigError(
                f"cannot create the run's folder under {logger.root_dir} ({err.strerror}): "
                "choose a writable --trainer.default_root_dir."
            ) from err
    logger._version = version


def _fail(code: int, message: str) -> None:
    print(f"litgd: {message}", file=sys.stderr)
    sys.exit(code)


def _silence_known_warnings() -> None:
    # The data is one resident full batch served in-process: worker processes would only add start-up cost,
    # and our iterable dataset's length is exact, so Lightning's advice about both does not apply.
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined.*")
    # Lightning 2.6 calls a torch.utils._pytree API that torch 2.13 deprecates; nothing for us to change.
    warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated.*")


def main(args: list[str] | None = None) -> None:
    _silence_known_warnings()
    argv = sys.argv[1:] if args is None else args
    guard = SignalGuard()
    if argv[:1] == ["fit"]:
        guard.install()  # before any work, so a signal during start-up is not lost
    try:
        CLI(
            L.LightningModule,  # any module and data module, by class path (configs/ name ours)
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=args,
            guard=guard,
            parser_kwargs={"exit_on_error": False},
        )
    except ArgumentError as err:
        _fail(2, f"invalid configuration: {one_paragraph(str(err))} (see `litgd {' '.join(argv[:1])} --help`)")
    except ConfigError as err:
        _fail(2, f"invalid configuration: {err}")
    except Diverged as err:
        _fail(3, str(err))
    except SIGTERMException:
        signum = guard.signum or signal.SIGTERM
        _fail(128 + signum, f"stopped by {signal.Signals(signum).name}. {_resume_hint(guard.checkpoint())}")
    finally:
        guard.uninstall()
    if guard.signum is not None:  # the signal came after the last step: the run is complete
        _fail(128 + guard.signum, f"stopped by {signal.Signals(guard.signum).name} after training ended.")


def _resume_hint(ckpt_path: Path | None) -> str:
    if ckpt_path is None:
        return "No checkpoint was written (training had not started, or checkpointing is off)."
    config = Path(ckpt_path).parent.parent / "config.yaml"
    return f"Resume with:\n  litgd fit --config {config} --ckpt_path {ckpt_path}"


if __name__ == "__main__":
    main()
