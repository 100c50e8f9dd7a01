from litgd.callbacks import LastCheckpoint


def test_only_empty_hooks_are_switched_off():
    class Subclass(LastCheckpoint):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            pass

    plain, subclass = LastCheckpoint(save_last=True), Subclass(save_last=True)
    assert plain.on_train_batch_start is None and plain.on_before_backward is None
    assert callable(plain.on_train_batch_end) and callable(plain.on_train_epoch_end)  # what saves checkpoints
    assert callable(subclass.on_train_batch_start)  # a hook someone uses is kept
