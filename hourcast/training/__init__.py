"""Training: the steps of the training pipeline, tuning, the backtest, MLflow and the registry.

Each step is a plain function, so a Mage block is one call:
:func:`~hourcast.training.data.load_training_frame`,
:func:`~hourcast.training.data.prepare_training_frame`, (optionally
:func:`~hourcast.training.tuning.tuned_settings`), :func:`~hourcast.training.fit.fit_and_log`
and :func:`~hourcast.training.register.register_trained`;
:func:`~hourcast.training.pipeline.train_target` chains them for the CLI.
"""
