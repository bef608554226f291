"""ufm.experiments: grid scans, paper figures and benchmarks, built on the public API of `ufm` and `ufm.theory`."""

__all__: list[str] = []
