"""Benchmarks: speed against a plain pipeline and against the hardware limit (issue 7).

Run ``python -m bench --help``. Modules here import nothing heavy at import time, so the GPU script runs on
a machine that has only torch / transformers (and, optionally, faiss and bitsandbytes).
"""
