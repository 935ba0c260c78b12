"""Runs: a training run's checkpoints and the model they are weights of.

``checkpoints`` discovers, orders, deduplicates and selects them; ``formats`` recognises and reads
each file format safely; ``loading`` chooses the weights inside (raw or EMA, wrapper prefixes) and
what the file records; ``models`` resolves the architecture, its factory arguments and input
geometry, builds it and loads weights; ``registry`` holds the architectures (plugins, installed
packages, timm) and the ``Registry`` mechanism probe sources share; ``records`` what the run
recorded about its training (checkpoint args, args.yaml or Lightning's hparams.yaml:
``lightninghparams``, metadata); ``traininglog`` timm's
summary.csv (or ``hflog``: trainer_state.json's log_history); ``schedule`` when a training loop
should save checkpoints. Hugging Face runs: ``hflayout`` (checkpoint-<step>/ folders, sharded
saves, PEFT adapters), ``textmodels`` (the model from config.json, offline), ``hfweights``
(loading their weights), ``textcall`` (packed tokens in, class or label-word logits out).
"""
