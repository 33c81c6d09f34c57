"""cplxcodec.analysis."""

__all__: list[str] = []
