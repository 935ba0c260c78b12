"""Probe sets: the fixed inputs every checkpoint's eNTK is computed on.

``make_probe(spec, target)`` builds one from a spec (``spec``: grammar and options) out of a source
(``sources``: built-in datasets read by ``datasets``/``download``, or a plugin's
``register_probe``), selected class-balanced (``selection``), shaped and normalised for the model
(``preprocess``), as a ``Probe`` (``probe``); ``files`` saves and reads probe files. Text probes
for language models (``sst2``, ``glue:TASK``, ``textfile:PATH``) are read by ``text_datasets``,
tokenised by ``tokenization`` and packed as ``tokens`` says (``text_build``).
"""

from .build import make_probe
from .datasets import Split
from .files import load_probe, save_probe
from .probe import Probe, Target
from .sources import available_probes, register_probe
from .spec import SPEC_GRAMMAR, parse_spec

__all__ = ["SPEC_GRAMMAR", "Probe", "Split", "Target", "available_probes", "load_probe", "make_probe", "parse_spec",
           "register_probe", "save_probe"]
