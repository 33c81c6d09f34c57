"""cplxcodec.training."""

__all__: list[str] = []
