"""Small ensembles of GRUs in numpy with a hand-written backward pass, for the post-hoc metric models."""

from __future__ import annotations

import math

import numpy as np

ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8


class EnsembleGRU:
    r"""
    `num_members` independent multi-layer GRUs (PyTorch `nn.GRU` equations, gate order r, z, n) with a linear head,
    stacked along a leading member axis and trained side by side with Adam.

    Why numpy and not `torch.nn.GRU`: the post-hoc models are tiny, and torch runs even a `(128, 6) @ (6, 12)`
    matmul inside a multi-threaded region. On a CPU whose cores are busy with other work each such region stalls for
    milliseconds (measured: 8 ms instead of 5 µs per matmul with two busy processes on two cores), which turns a
    seconds-long metric into minutes. numpy element-wise operations are single-threaded and OpenBLAS keeps small
    matmuls single-threaded, so training stays fast on a shared machine and deterministic for a given seed. Every
    operation touches one time step of one batch, and the backward pass through time is written out by hand.

    Args:
        num_members (`int`): number of independent models.
        input_size (`int`): input features per step.
        hidden_size (`int`): hidden size of every layer.
        output_size (`int`): outputs of the linear head.
        seeds (`list[int]`): one seed per member for its initialisation (uniform in ±1/sqrt(hidden_size), as
            `nn.GRU`).
        num_layers (`int`, *optional*, defaults to 2): stacked GRU layers.
        learning_rate (`float`, *optional*, defaults to 5e-3): Adam learning rate.
    """

    def __init__(
        self,
        num_members: int,
        input_size: int,
        hidden_size: int,
        output_size: int,
        seeds: list[int],
        num_layers: int = 2,
        learning_rate: float = 5e-3,
    ) -> None:
        if len(seeds) != num_members:
            raise ValueError(f"`seeds` has {len(seeds)!r} entries, expected {num_members!r}")
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.learning_rate = learning_rate
        shapes = {}
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size
            shapes[f"weight_ih_{layer}"] = (layer_input, 3 * hidden_size)
            shapes[f"weight_hh_{layer}"] = (hidden_size, 3 * hidden_size)
            shapes[f"bias_ih_{layer}"] = (1, 3 * hidden_size)
            shapes[f"bias_hh_{layer}"] = (1, 3 * hidden_size)
        shapes["head_weight"] = (hidden_size, output_size)
        shapes["head_bias"] = (1, output_size)
        bound = 1.0 / math.sqrt(hidden_size)
        rngs = [np.random.default_rng(seed) for seed in seeds]
        self.params = {
            name: np.stack([rng.uniform(-bound, bound, size=shape) for rng in rngs]).astype(np.float32)
            for name, shape in shapes.items()
        }
        self.grads = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._first_moments = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._second_moments = {name: np.zeros_like(value) for name, value in self.params.items()}
        self._num_updates = 0

    def forward(self, steps: list[np.ndarray], keep_cache: bool = False) -> tuple[list[np.ndarray], list | None]:
        """
        Runs the recurrence.

        Args:
            steps (`list[np.ndarray]`): one `(num_members, batch_size, input_size)` float32 array per time step.
            keep_cache (`bool`, *optional*, defaults to `False`): keep what `backward` needs.

        Returns:
            `tuple`: the last layer's hidden states, one `(num_members, batch_size, hidden_size)` array per step, and
            the cache (`None` unless `keep_cache`).
        """
        size = self.hidden_size
        cache = [] if keep_cache else None
        for layer in range(self.num_layers):
            weight_ih, weight_hh = self.params[f"weight_ih_{layer}"], self.params[f"weight_hh_{layer}"]
            bias_ih, bias_hh = self.params[f"bias_ih_{layer}"], self.params[f"bias_hh_{layer}"]
            hidden = np.zeros((*steps[0].shape[:2], size), dtype=np.float32)
            outputs, layer_cache = [], []
            for inputs in steps:
                gates_input = np.matmul(inputs, weight_ih)
                gates_input += bias_ih
                gates_hidden = np.matmul(hidden, weight_hh)
                gates_hidden += bias_hh
                rz = _sigmoid(gates_input[..., : 2 * size] + gates_hidden[..., : 2 * size])
                recurrent_n = gates_hidden[..., 2 * size :]
                candidate = rz[..., :size] * recurrent_n
                candidate += gates_input[..., 2 * size :]
                np.tanh(candidate, out=candidate)
                new_hidden = hidden - candidate
                new_hidden *= rz[..., size:]
                new_hidden += candidate
                if keep_cache:
                    layer_cache.append((inputs, hidden, rz, candidate, recurrent_n))
                hidden = new_hidden
                outputs.append(hidden)
            if keep_cache:
                cache.append(layer_cache)
            steps = outputs
        return steps, cache

    def head(self, hidden: np.ndarray) -> np.ndarray:
        """Linear head: `(num_members, batch_size, hidden_size)` → `(num_members, batch_size, output_size)`."""
        outputs = np.matmul(hidden, self.params["head_weight"])
        outputs += self.params["head_bias"]
        return outputs

    def zero_grad(self) -> None:
        """Resets every accumulated gradient to zero."""
        for value in self.grads.values():
            value.fill(0.0)

    def head_backward(self, hidden: np.ndarray, grad_outputs: np.ndarray) -> np.ndarray:
        """
        Accumulates the head's gradients and returns the gradient with respect to its input.

        Args:
            hidden (`np.ndarray` of shape `(num_members, batch_size, hidden_size)`): head input.
            grad_outputs (`np.ndarray` of shape `(num_members, batch_size, output_size)`): loss gradient.

        Returns:
            `np.ndarray` of shape `(num_members, batch_size, hidden_size)`.
        """
        self.grads["head_weight"] += np.matmul(hidden.transpose(0, 2, 1), grad_outputs)
        self.grads["head_bias"] += grad_outputs.sum(axis=1, keepdims=True)
        return np.matmul(grad_outputs, self.params["head_weight"].transpose(0, 2, 1))

    def backward(self, cache: list, grad_outputs: list[np.ndarray | None]) -> None:
        """
        Back-propagates through time and accumulates the GRU gradients.

        Args:
            cache (`list`): from `forward(..., keep_cache=True)`.
            grad_outputs (`list[np.ndarray | None]`): loss gradient with respect to each step's last-layer hidden
                state, `None` for steps the loss does not read.
        """
        size = self.hidden_size
        for layer in reversed(range(self.num_layers)):
            weight_ih_t = np.ascontiguousarray(self.params[f"weight_ih_{layer}"].transpose(0, 2, 1))
            weight_hh_t = np.ascontiguousarray(self.params[f"weight_hh_{layer}"].transpose(0, 2, 1))
            grad_weight_ih, grad_weight_hh = self.grads[f"weight_ih_{layer}"], self.grads[f"weight_hh_{layer}"]
            grad_hidden, sum_gates_input, sum_gates_hidden = None, None, None
            grad_inputs = [None] * len(cache[layer])
            for step in reversed(range(len(cache[layer]))):
                inputs, previous, rz, candidate, recurrent_n = cache[layer][step]
                grad_state = _add_optional(grad_outputs[step], grad_hidden)
                if grad_state is None:
                    continue
                grad_keep = grad_state * rz[..., size:]
                grad_pre_n = (grad_state - grad_keep) * (1.0 - candidate * candidate)
                grad_rz = np.concatenate([grad_pre_n * recurrent_n, grad_state * (previous - candidate)], axis=-1)
                grad_rz *= rz * (1.0 - rz)
                grad_gates_hidden = np.concatenate([grad_rz, grad_pre_n * rz[..., :size]], axis=-1)
                grad_gates_input = np.concatenate([grad_rz, grad_pre_n], axis=-1)
                grad_hidden = np.matmul(grad_gates_hidden, weight_hh_t)
                grad_hidden += grad_keep
                grad_weight_hh += np.matmul(previous.transpose(0, 2, 1), grad_gates_hidden)
                grad_weight_ih += np.matmul(inputs.transpose(0, 2, 1), grad_gates_input)
                sum_gates_hidden = _add_optional(sum_gates_hidden, grad_gates_hidden)
                sum_gates_input = _add_optional(sum_gates_input, grad_gates_input)
                if layer > 0:
                    grad_inputs[step] = np.matmul(grad_gates_input, weight_ih_t)
            if sum_gates_hidden is not None:
                self.grads[f"bias_hh_{layer}"] += sum_gates_hidden.sum(axis=1, keepdims=True)
                self.grads[f"bias_ih_{layer}"] += sum_gates_input.sum(axis=1, keepdims=True)
            grad_outputs = grad_inputs

    def step(self) -> None:
        """One Adam update (bias-corrected, betas (0.9, 0.999), eps 1e-8) from the accumulated gradients."""
        self._num_updates += 1
        beta_first, beta_second = ADAM_BETAS
        correction_first = 1.0 - beta_first**self._num_updates
        correction_second = 1.0 - beta_second**self._num_updates
        step_size = self.learning_rate / correction_first
        for name, value in self.params.items():
            grad = self.grads[name]
            first, second = self._first_moments[name], self._second_moments[name]
            first *= beta_first
            first += (1.0 - beta_first) * grad
            second *= beta_second
            second += (1.0 - beta_second) * grad * grad
            denominator = np.sqrt(second / correction_second)
            denominator += ADAM_EPSILON
            value -= step_size * first / denominator


def _sigmoid(values: np.ndarray) -> np.ndarray:
    """Logistic function written with `tanh` (no overflow warnings for large inputs); overwrites `values`."""
    values *= 0.5
    np.tanh(values, out=values)
    values *= 0.5
    values += 0.5
    return values


def _add_optional(first: np.ndarray | None, second: np.ndarray | None) -> np.ndarray | None:
    """`first + second` where either may be `None`."""
    if first is None:
        return second
    if second is None:
        return first
    return first + second


def time_major(member_windows: list[np.ndarray]) -> list[np.ndarray]:
    """
    Stacks one batch per member and splits it into time steps for [`EnsembleGRU`].

    Args:
        member_windows (`list[np.ndarray]`): one `(batch_size, sequence_length, size)` array per member.

    Returns:
        `list[np.ndarray]`: one `(num_members, batch_size, size)` float32 array per step.
    """
    stacked = np.stack(member_windows).astype(np.float32, copy=False)
    return list(np.ascontiguousarray(stacked.transpose(2, 0, 1, 3)))
