"""A whole training step (forward, backward, Adam) captured once as a CUDA graph and replayed.

Why: on a GPU the lab's MLPs are far too small to keep it busy. The default 16-D model's
step is about 0.4 ms of kernels but about 3.6 ms of Python and some 80 kernel launches
(torch.profiler on an H200, ``bench/gpu_check.py``): the GPU waits on the CPU. A replayed graph
launches the whole step at once (0.37 ms per step there).

This is the recipe of PyTorch's "whole-network capture" (``torch.cuda.graphs`` docs): real
warm-up steps on a side stream, one capture with static input buffers, then each batch is
copied into those buffers and the graph replayed. Everything random (batch order, binarization,
noise, corruption) is drawn outside the graph, so a graphed run trains on exactly the numbers
an eager one draws. Adam must be ``capturable`` so that its step count lives on the GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vae_core.models.model import ElboTerms
from vae_core.training.fallback import fallback_reason

#: (encoder input, labels or None, noise or None, clean target or None, loss scale) -> terms;
#: the step zeroes the gradients, runs forward and backward, and steps the optimizer.
StepFn = Callable[
    [torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, float],
    ElboTerms,
]


def graph_unavailable(
    *,
    wanted: bool,
    device: torch.device,
    compile: bool,
    amp: bool,
    world_size: int,
    scheduled: bool,
) -> str | None:
    """Why this run's steps cannot be one CUDA graph, or None when they can."""
    if not wanted:
        return "turned off"
    if device.type != "cuda":
        return f"graphs are a CUDA feature (this run is on {device.type})"
    if compile:
        return "--compile runs its own kernels"
    if amp:
        return "bf16 autocast is not captured"
    if world_size > 1:
        return "DistributedDataParallel talks to the other ranks in every step"
    if scheduled:
        # OneCycleLR rewrites lr and Adam's beta1 as Python floats, which a graph would freeze
        return "the one-cycle schedule changes the learning rate every step"
    return None


class GraphedStep:
    """Calls ``step`` eagerly for the first ``WARMUP_STEPS`` full batches, then replays a graph.

    Batches of another size (an epoch's last, shorter one) run eagerly: capturing a second
    graph for one step an epoch would cost more than it saves. If the capture fails the run goes
    on eagerly, with the reason in ``error``.
    """

    WARMUP_STEPS = 3  # the docs' number: lets cuBLAS and autograd make their lazy allocations

    def __init__(self, step: StepFn, batch_size: int) -> None:
        self._step = step
        self._batch_size = batch_size
        self._warm_steps = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._inputs: tuple[torch.Tensor | None, ...] = ()
        self._outputs: ElboTerms | None = None
        self.error: str | None = None

    @property
    def captured(self) -> bool:
        return self._graph is not None

    def __call__(
        self,
        x_in: torch.Tensor,
        y: torch.Tensor | None,
        eps: torch.Tensor | None,
        target: torch.Tensor | None,
        scale: float,
    ) -> ElboTerms:
        batch = (x_in, y, eps, target)
        if self.error is not None or len(x_in) != self._batch_size:
            return self._step(*batch, scale)
        if self._warm_steps < self.WARMUP_STEPS:
            self._warm_steps += 1
            return self._on_side_stream(*batch, scale)
        if self._graph is None and not self._capture(batch, scale):
            return self._step(*batch, scale)
        for static, value in zip(self._inputs, batch, strict=True):
            if static is not None:
                static.copy_(value)
        assert self._graph is not None and self._outputs is not None
        self._graph.replay()
        return self._outputs

    def _on_side_stream(self, *args: object) -> ElboTerms:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            terms = self._step(*args)  # type: ignore[arg-type]
        torch.cuda.current_stream().wait_stream(side)
        return terms

    def _capture(self, batch: tuple[torch.Tensor | None, ...], scale: float) -> bool:
        """Record one step on static copies of this batch (recording runs nothing)."""
        inputs = tuple(None if t is None else t.clone() for t in batch)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                outputs = self._step(*inputs, scale)  # type: ignore[arg-type]
        except RuntimeError as exc:  # an op that cannot be captured: train on, eagerly
            self.error = fallback_reason(exc)
            torch.cuda.synchronize()
            return False
        self._graph, self._inputs, self._outputs = graph, inputs, outputs
        return True
