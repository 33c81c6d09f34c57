"""cplxcodec.models."""

__all__: list[str] = []
