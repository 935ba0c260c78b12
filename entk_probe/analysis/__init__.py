"""Analysis of a kernel trajectory: pure functions of kernels, times and labels.

``dynamics`` (distances, angles, velocity, alignment, spectra, subspace angles), ``phases`` (the
Phase I / Phase II boundary, the rule that picks a verdict, the cone width), ``verdicts`` (their
ids and plain words), ``resample`` (probe resamples of the cached kernels and their angles),
``confidence`` (how sure the verdict is: resamples, every other checkpoint, margins),
``summary`` (every metric of a run at once), ``trajectories`` (synthetic trajectories the rules
are tested on), ``threads`` (the small linear algebra on one thread).
"""
