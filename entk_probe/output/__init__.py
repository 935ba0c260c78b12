"""Output: the analysis as a versioned JSON report (``jsonreport``, ``schema/``), a terminal report
rendered from that JSON (``terminal``), plots (``plots``), kernel files (``kernelfile``) and
progress bars (``progress``)."""
