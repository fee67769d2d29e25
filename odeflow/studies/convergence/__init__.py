"""Convergence studies: errors against a reference as the step size shrinks, and decay in time.

* :func:`fit_order` and :func:`fit_rate`: least squares on ``log error ~ log h`` (or ``log d ~ t``) with a
  t-distribution confidence interval on the slope.
* :func:`step_size_study`: one run per step size against a :class:`Reference` (a closed form, any
  callable, or a much finer run), errors at ``t_end`` and the sup over the recorded times, fitted order.
* :func:`decay_study`: the W2 decay rate before the quantization floor, the floor, and the energy
  identity ``d/dt W2^2 = -2 W2^2 + 2 V`` (theory :ref:`§3.2 <theory-energy>`) checked along the run.

How an error between a run and the reference is measured depends on what the reference gives
(``metric="auto"``):

==============================  =========================  ==============================================
reference state at time t       metric                     error
==============================  =========================  ==============================================
(N, d) array, rows = particles  ``"particles"``            ``sqrt(sum_i a_i |x_i - x_i^ref|^2)``: the cost of
                                                           the known correspondence, an upper bound of W2
                                                           (equal to it once errors are below half the
                                                           particles' spacing); no solve
Cloud (any size and weights)    ``"w2"``                   exact ``W2`` between the clouds
                                                           (:func:`odeflow.wasserstein`: sorting in 1-D,
                                                           network simplex otherwise)
``(m, S)``                      ``"moments"``              ``W2(N(m_h, S_h), N(m, S))`` between Gaussians with
                                                           the particles' mean and covariance and ``(m, S)``
==============================  =========================  ==============================================

``metric="w2"`` also applies to an array state (the rows are then taken as a cloud with the particles'
weights). The distance curve is compared too: ``|d_h(t) - d_ref(t)|``.
"""

from .decay import DecayStudy, decay_study, decay_window
from .fits import OrderFit, RateFit, fit_order, fit_rate
from .references import Reference, exact_reference, finest_reference, gaussian_reference, quantile_reference
from .stepsize import StepSizeStudy, step_size_study

__all__ = [
    "DecayStudy", "OrderFit", "RateFit", "Reference", "StepSizeStudy", "decay_study", "decay_window",
    "exact_reference", "finest_reference", "fit_order", "fit_rate", "gaussian_reference", "quantile_reference",
    "step_size_study",
]
