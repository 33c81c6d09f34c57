r"""Complex activations and dropout.

- :class:`ModReLU` (Arjovsky et al., 2016): :math:`\operatorname{ReLU}(|z| + b)\, z/|z|`, a learnable
  bias ``b`` per feature; keeps the phase, thresholds the magnitude.
- :class:`CReLU` (Trabelsi et al., 2018): :math:`\operatorname{ReLU}(\Re z) + i\operatorname{ReLU}(\Im z)`.
- :class:`ZReLU` (Guberman, 2016): passes :math:`z` when :math:`\angle z \in [0, \pi/2]`, else 0.
- :class:`Cardioid` (Virtue et al., 2017): :math:`\tfrac12(1 + \cos\angle z)\, z`; phase-preserving,
  attenuates by direction.
- :class:`ComplexDropout`: one Bernoulli mask shared by the real and imaginary parts, so dropped
  elements are zeroed as complex numbers and phases of kept ones are untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cplxcodec.layers._checks import check_complex

__all__ = ["ModReLU", "CReLU", "ZReLU", "Cardioid", "ComplexDropout"]

_ANY = tuple(range(1, 9))


class ModReLU(nn.Module):
    """ModReLU with a learnable real bias per feature (``num_parameters`` along ``dim``).

    Arguments mirror :class:`torch.nn.PReLU`: ``num_parameters=1`` shares one bias; otherwise it
    must equal the size of axis ``dim`` (default 1, the channel axis). ``init`` is the initial bias
    (a small negative value makes the layer a soft magnitude threshold).
    """

    def __init__(
        self, num_parameters: int = 1, init: float = 0.0, dim: int = 1, eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.num_parameters, self.dim, self.eps = num_parameters, dim, eps
        self.bias = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, z: Tensor) -> Tensor:
        """Apply ``relu(|z| + b) · z / |z|``."""
        check_complex(z, "ModReLU", _ANY, "(B, C, *)")
        b = self.bias
        if self.num_parameters > 1:
            if z.shape[self.dim] != self.num_parameters:
                raise ValueError(
                    f"ModReLU has {self.num_parameters} biases but input axis {self.dim} has "
                    f"size {z.shape[self.dim]}"
                )
            shape = [1] * z.dim()
            shape[self.dim] = -1
            b = b.view(shape)
        mag = z.abs()
        scale = F.relu(mag + b) / (mag + self.eps)
        return z * scale

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class CReLU(nn.Module):
    """ReLU applied separately to the real and imaginary parts."""

    def forward(self, z: Tensor) -> Tensor:
        """Apply ``relu(Re z) + i relu(Im z)``."""
        check_complex(z, "CReLU", _ANY, "(*)")
        # one pass over the interleaved (re, im) view; relu keeps the input's memory layout
        return torch.view_as_complex(F.relu(torch.view_as_real(z)))


class ZReLU(nn.Module):
    """Passes ``z`` where its phase lies in the first quadrant [0, π/2], zero elsewhere."""

    def forward(self, z: Tensor) -> Tensor:
        """Apply the first-quadrant gate."""
        check_complex(z, "ZReLU", _ANY, "(*)")
        keep = (z.real >= 0) & (z.imag >= 0)
        return z * keep


class Cardioid(nn.Module):
    """Cardioid activation ``(1 + cos ∠z) / 2 · z``."""

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, z: Tensor) -> Tensor:
        """Apply the direction-dependent gain (cos ∠z computed as Re z / |z|)."""
        check_complex(z, "Cardioid", _ANY, "(*)")
        cos = z.real / (z.abs() + self.eps)
        return 0.5 * (1 + cos) * z


class ComplexDropout(nn.Module):
    """Dropout with one mask for the real and imaginary parts (scales kept values by 1/(1-p))."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, z: Tensor) -> Tensor:
        """Zero whole complex elements with probability ``p`` in training mode."""
        check_complex(z, "ComplexDropout", _ANY, "(*)")
        if not self.training or self.p == 0.0:
            return z
        mask = F.dropout(torch.ones_like(z.real), self.p, training=True)
        return z * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
