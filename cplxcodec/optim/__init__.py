"""cplxcodec.optim."""

__all__: list[str] = []
