"""cplxcodec.bitstream."""

__all__: list[str] = []
