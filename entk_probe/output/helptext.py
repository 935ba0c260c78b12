"""``--help`` with options under headed groups, in click's own plain-text layout.

Why not rich-click: it would be one more dependency that replaces click's help machinery for the
whole program, with colours that must then be kept out of pipes and NO_COLOR; the grouping is a
few lines of click's formatter API, and the help stays plain text wherever it goes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

import click

# The option groups of every command's help (click parameter names; patterns allowed), in the order shown;
# a command shows the groups it has options in.
OPTION_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Runs", ("by", "sort", "label")),
    ("Listing", ("pattern", "with_timm")),
    ("Switch", ("train_spec", "eval_spec", "at", "epochs", "lr", "momentum", "weight_decay", "batch_size", "seed")),
    ("Watch", ("until", "on_phase2", "poll")),
    ("Probe", ("probe_spec", "input_size", "normalize", "data_root", "download", "tokenizer", "max_length", "prompt")),
    ("Model", ("arch", "plugins", "model_kwargs", "weights", "trust_checkpoints", "base_model", "label_words")),
    ("Checkpoints", ("glob", "every", "range", "max_checkpoints", "init")),
    ("Kernel", ("mode", "params", "device", "max_memory", "jacobian_dtype", "gram_dtype", "paths", "no_cache", "force",
                "shard", "dist_timeout")),
    ("Phases", ("threshold_*", "resamples", "cone_statistic", "subspace_k", "buffer_motion")),
    ("Output", ("output", "json_path", "html_path", "plot_path", "tensorboard_dir", "save_kernels", "quiet", "no_color",
                "debug", "help")),
)


class GroupedCommand(click.Command):
    """A click command whose --help lists its options under ``groups`` (title, parameter-name patterns;
    default ``OPTION_GROUPS``); options in no group come last under "Other options"."""

    def __init__(self, *args: Any, groups: Sequence[tuple[str, Sequence[str]]] = OPTION_GROUPS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups = tuple(groups)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        records = [("help" if p is self.get_help_option(ctx) else p.name or "", rec) for p in self.get_params(ctx)
                   if isinstance(p, click.Option) and (rec := p.get_help_record(ctx)) is not None]
        placed: set[str] = set()
        for title, patterns in self.groups:
            rows = [rec for name, rec in records
                    if name not in placed and any(fnmatch.fnmatchcase(name, pat) for pat in patterns)]
            placed |= {name for name, _ in records if any(fnmatch.fnmatchcase(name, pat) for pat in patterns)}
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        rest = [rec for name, rec in records if name not in placed]
        if rest:
            with formatter.section("Other options"):
                formatter.write_dl(rest)
