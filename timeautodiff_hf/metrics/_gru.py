"""A small ensemble GRU with a hand-written backward pass, fast on CPU for the post-hoc metric models."""

from __future__ import annotations

import math

import torch
from torch import nn


class _GRULayerFunction(torch.autograd.Function):
    r"""
    One GRU layer (PyTorch gate convention r, z, n) over a batch of independent ensemble members.

    Autograd on `nn.GRU` creates a dozen graph nodes per time step, and on small CPU models the autograd engine
    overhead dominates. This function runs the recurrence without a graph and back-propagates through time by hand;
    everything that does not depend on the recurrence (input projections, weight gradients) is one batched matmul.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        inputs: torch.Tensor,
        weight_ih: torch.Tensor,
        weight_hh: torch.Tensor,
        bias_ih: torch.Tensor,
        bias_hh: torch.Tensor,
    ) -> torch.Tensor:
        # Shapes: inputs (members, batch, steps, in), weight_ih (members, in, 3h), weight_hh (members, h, 3h),
        # biases (members, 3h).
        members, batch, steps, input_size = inputs.shape
        hidden_size = weight_hh.shape[1]
        gates_input = torch.matmul(inputs.reshape(members, batch * steps, input_size), weight_ih)
        gates_input = (gates_input + bias_ih[:, None]).view(members, batch, steps, 3 * hidden_size)
        input_rz = gates_input[..., : 2 * hidden_size].unbind(2)
        input_n = gates_input[..., 2 * hidden_size :].unbind(2)
        bias_hh = bias_hh[:, None]
        hidden = inputs.new_zeros(members, batch, hidden_size)
        outputs, gates_rz, candidates, hidden_n = [], [], [], []
        for step in range(steps):
            gates_hidden = torch.baddbmm(bias_hh, hidden, weight_hh)
            rz = torch.sigmoid(input_rz[step] + gates_hidden[..., : 2 * hidden_size])
            reset, update = rz[..., :hidden_size], rz[..., hidden_size:]
            recurrent_n = gates_hidden[..., 2 * hidden_size :]
            candidate = torch.tanh(torch.addcmul(input_n[step], reset, recurrent_n))
            hidden = torch.addcmul(candidate, update, hidden - candidate)
            outputs.append(hidden)
            gates_rz.append(rz)
            candidates.append(candidate)
            hidden_n.append(recurrent_n)
        outputs = torch.stack(outputs, 2)
        ctx.save_for_backward(
            inputs,
            weight_ih,
            weight_hh,
            outputs,
            torch.stack(gates_rz, 2),
            torch.stack(candidates, 2),
            torch.stack(hidden_n, 2),
        )
        return outputs

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad_outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        inputs, weight_ih, weight_hh, outputs, gates_rz, candidates, hidden_n = ctx.saved_tensors
        members, batch, steps, input_size = inputs.shape
        hidden_size = weight_hh.shape[1]
        previous = torch.cat([outputs.new_zeros(members, batch, 1, hidden_size), outputs[:, :, :-1]], 2)
        # Everything that does not need the recurrence is computed for all steps at once.
        rz_slopes = (gates_rz * (1 - gates_rz)).unbind(2)
        candidate_slopes = (1 - candidates * candidates).unbind(2)
        previous_minus_candidate = (previous - candidates).unbind(2)
        resets = gates_rz[..., :hidden_size].unbind(2)
        updates = gates_rz[..., hidden_size:].unbind(2)
        recurrent_n = hidden_n.unbind(2)
        step_grads = grad_outputs.unbind(2)
        weight_hh_t = weight_hh.transpose(1, 2)
        grad_hidden = torch.zeros_like(step_grads[0])
        grad_gates_hidden, grad_candidate_pre = [None] * steps, [None] * steps
        for step in reversed(range(steps)):
            grad_state = step_grads[step] + grad_hidden
            grad_keep = grad_state * updates[step]
            grad_pre_n = (grad_state - grad_keep) * candidate_slopes[step]
            grad_rz = torch.cat([grad_pre_n * recurrent_n[step], grad_state * previous_minus_candidate[step]], -1)
            grad_rz = grad_rz * rz_slopes[step]
            grad_gates = torch.cat([grad_rz, grad_pre_n * resets[step]], -1)
            grad_hidden = torch.baddbmm(grad_keep, grad_gates, weight_hh_t)
            grad_gates_hidden[step] = grad_gates
            grad_candidate_pre[step] = grad_pre_n
        grad_gates_hidden = torch.stack(grad_gates_hidden, 2)
        grad_gates_input = torch.cat(
            [grad_gates_hidden[..., : 2 * hidden_size], torch.stack(grad_candidate_pre, 2)], -1
        )
        flat_gates_hidden = grad_gates_hidden.reshape(members, batch * steps, 3 * hidden_size)
        flat_gates_input = grad_gates_input.reshape(members, batch * steps, 3 * hidden_size)
        grad_weight_hh = previous.reshape(members, batch * steps, hidden_size).transpose(1, 2) @ flat_gates_hidden
        grad_weight_ih = inputs.reshape(members, batch * steps, input_size).transpose(1, 2) @ flat_gates_input
        grad_inputs = None
        if ctx.needs_input_grad[0]:
            grad_inputs = (flat_gates_input @ weight_ih.transpose(1, 2)).view(members, batch, steps, input_size)
        return grad_inputs, grad_weight_ih, grad_weight_hh, flat_gates_input.sum(1), flat_gates_hidden.sum(1)


class EnsembleGRU(nn.Module):
    r"""
    `num_members` independent multi-layer GRUs with a linear head, trained side by side in one batched computation.

    Each member is initialised from its own `torch.Generator` (uniform in ±1/sqrt(hidden_size), like `nn.GRU`), so
    the global torch RNG is never used. The recurrence follows `nn.GRU` exactly (gate order r, z, n).

    Args:
        num_members (`int`): number of independent models.
        input_size (`int`): input features per step.
        hidden_size (`int`): hidden size of every layer.
        output_size (`int`): outputs of the linear head.
        generators (`list[torch.Generator]`): one generator per member, used for initialisation.
        num_layers (`int`, *optional*, defaults to 2): stacked GRU layers.
    """

    def __init__(
        self,
        num_members: int,
        input_size: int,
        hidden_size: int,
        output_size: int,
        generators: list[torch.Generator],
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        if len(generators) != num_members:
            raise ValueError(f"`generators` has {len(generators)!r} entries, expected {num_members!r}")
        self.weights_ih = nn.ParameterList()
        self.weights_hh = nn.ParameterList()
        self.biases_ih = nn.ParameterList()
        self.biases_hh = nn.ParameterList()
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            self.weights_ih.append(nn.Parameter(torch.empty(num_members, layer_input, 3 * hidden_size)))
            self.weights_hh.append(nn.Parameter(torch.empty(num_members, hidden_size, 3 * hidden_size)))
            self.biases_ih.append(nn.Parameter(torch.empty(num_members, 3 * hidden_size)))
            self.biases_hh.append(nn.Parameter(torch.empty(num_members, 3 * hidden_size)))
        self.head_weight = nn.Parameter(torch.empty(num_members, hidden_size, output_size))
        self.head_bias = nn.Parameter(torch.empty(num_members, 1, output_size))
        bound = 1.0 / math.sqrt(hidden_size)
        with torch.no_grad():
            for parameter in self.parameters():
                for member, generator in enumerate(generators):
                    parameter[member].uniform_(-bound, bound, generator=generator)

    def forward(self, inputs: torch.Tensor, all_steps: bool = False) -> torch.Tensor:
        """
        Args:
            inputs (`torch.Tensor` of shape `(num_members, batch_size, sequence_length, input_size)`):
                One batch of sequences per member.
            all_steps (`bool`, *optional*, defaults to `False`):
                Apply the head to every step instead of only the last one.

        Returns:
            `torch.Tensor` of shape `(num_members, batch_size, sequence_length, output_size)` if `all_steps`, else
            `(num_members, batch_size, output_size)`.
        """
        hidden_states = inputs
        for weight_ih, weight_hh, bias_ih, bias_hh in zip(
            self.weights_ih, self.weights_hh, self.biases_ih, self.biases_hh
        ):
            hidden_states = _GRULayerFunction.apply(hidden_states, weight_ih, weight_hh, bias_ih, bias_hh)
        if all_steps:
            members, batch, steps, hidden_size = hidden_states.shape
            flat = hidden_states.reshape(members, batch * steps, hidden_size)
            return torch.baddbmm(self.head_bias, flat, self.head_weight).view(members, batch, steps, -1)
        return torch.baddbmm(self.head_bias, hidden_states[:, :, -1], self.head_weight)
