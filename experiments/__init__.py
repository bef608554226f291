"""experiments: grid scans, paper figures and benchmarks built on `ufm` and `theory`."""

__all__: list[str] = []
