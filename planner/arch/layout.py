"""The shape of a transformer as the estimators see it, and the counts derived from it."""

from __future__ import annotations

from dataclasses import dataclass, field

CAUSAL_LM = "causal-lm"
ENCODER = "encoder"
EMBEDDING = "embedding"


@dataclass(frozen=True)
class LinearSpec:
    """One linear layer inside a transformer block (repeated ``experts`` times in an MoE block).

    ``name`` is the HF module name (``q_proj``, ``down_proj``, ``query_key_value`` …): LoRA target lists
    are matched against it.
    """

    name: str
    in_features: int
    out_features: int
    bias: bool = False
    experts: int = 1

    @property
    def weight_params(self) -> int:
        return self.in_features * self.out_features * self.experts

    @property
    def params(self) -> int:
        return self.weight_params + (self.out_features * self.experts if self.bias else 0)


@dataclass(frozen=True)
class Architecture:
    """A normalised transformer: enough to count parameters, FLOPs, activations and KV cache.

    Blocks are assumed identical (true for every architecture in the catalog). MoE blocks carry their
    expert linears with ``experts > 1``; ``experts_per_token`` of them run for each token.
    """

    model_type: str
    kind: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    max_positions: int
    tie_embeddings: bool
    layer_linears: tuple[LinearSpec, ...]
    layer_norm_params: int
    token_embedding_params: int
    other_embedding_params: int = 0
    final_params: int = 0
    lm_head_params: int = 0
    num_experts: int = 0
    experts_per_token: int = 0
    gated_mlp: bool = True
    layer_norm_kind: str = "rms"
    notes: tuple[str, ...] = field(default=())
    positions_known: bool = True
    """False where the config names no position limit (``max_positions`` is then an assumed 2048)."""

    @property
    def is_causal(self) -> bool:
        return self.kind == CAUSAL_LM

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 1

    @property
    def layer_params(self) -> int:
        return sum(lin.params for lin in self.layer_linears) + self.layer_norm_params

    @property
    def total_params(self) -> int:
        """Unique parameters (tied embeddings counted once), as safetensors would total them."""
        return (
            self.token_embedding_params
            + self.other_embedding_params
            + self.num_layers * self.layer_params
            + self.final_params
            + self.lm_head_params
        )

    @property
    def active_params(self) -> int:
        """Parameters touched per token: for MoE only ``experts_per_token`` experts run."""
        if not self.is_moe:
            return self.total_params
        unused = sum(
            lin.params * (lin.experts - self.experts_per_token) // lin.experts
            for lin in self.layer_linears
            if lin.experts > 1
        )
        return self.total_params - self.num_layers * unused

    @property
    def layer_matmul_params_active(self) -> int:
        """Weight parameters of one block's matmuls that a token passes through."""
        total = 0
        for lin in self.layer_linears:
            share = self.experts_per_token if lin.experts > 1 else 1
            total += lin.in_features * lin.out_features * share
        return total

    @property
    def head_matmul_params(self) -> int:
        """The output projection a token passes through: the LM head (tied or not) for causal LMs."""
        return self.vocab_size * self.hidden_size if self.is_causal else 0

    @property
    def matmul_params_per_token(self) -> int:
        """Matmul weights per token, input embedding excluded: the N of '6·N·tokens'."""
        return self.num_layers * self.layer_matmul_params_active + self.head_matmul_params

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    def linears_matching(self, targets: tuple[str, ...] | None) -> list[LinearSpec]:
        """The block linears a LoRA target list selects (``None`` = PEFT's 'all-linear': every linear of
        a block, the MoE router and the experts included (PEFT ≥ 0.18 wraps fused expert weights))."""
        if targets is None:
            return list(self.layer_linears)
        wanted = set(targets)
        return [lin for lin in self.layer_linears if lin.name in wanted or _alias(lin.name) & wanted]


_TARGET_ALIASES = {
    "qkv_proj": {"q_proj", "k_proj", "v_proj", "q", "k", "v"},
    "query_key_value": {"q_proj", "k_proj", "v_proj", "q", "k", "v", "query", "key", "value"},
    "c_attn": {"q_proj", "k_proj", "v_proj", "q", "k", "v"},
    "Wqkv": {"q_proj", "k_proj", "v_proj", "q", "k", "v"},
    "gate_up_proj": {"gate_proj", "up_proj", "mlp"},
    "q_proj": {"q", "query"},
    "k_proj": {"k", "key"},
    "v_proj": {"v", "value"},
    "o_proj": {"o", "output_proj", "dense", "out_proj"},
    "gate_proj": {"mlp", "w1"},
    "up_proj": {"mlp", "w3"},
    "down_proj": {"mlp", "w2"},
}


def _alias(name: str) -> set[str]:
    """Short names people use for a module (``q`` for ``q_proj``, ``mlp`` for the MLP trio)."""
    return _TARGET_ALIASES.get(name, set())
