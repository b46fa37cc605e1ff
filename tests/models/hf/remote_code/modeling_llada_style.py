"""A tiny LLaDA-style masked diffusion LM written for transformers 4.x (test fixture, our own code).

What makes it LLaDA-like: ``model_type`` "llada" with ``mask_token_id`` in the config, loaded
through ``auto_map`` (remote code); a bidirectional transformer with rotary positions whose
``forward`` accepts ``attention_mask`` and ignores it; a ``PreTrainedModel`` that never calls
``post_init()`` and overrides ``tie_weights(self)`` without keyword arguments; a config without
``use_cache``.  transformers 4.x loads such code; transformers 5.x does not.
"""

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast


class LLaDAConfig(PretrainedConfig):
    model_type = "llada"

    def __init__(self, vocab_size=32, d_model=32, n_heads=2, n_layers=2, mlp_hidden_size=64,
                 max_sequence_length=64, rope_theta=10000.0, mask_token_id=4, weight_tying=False, **kwargs):
        self.vocab_size, self.d_model, self.n_heads, self.n_layers = vocab_size, d_model, n_heads, n_layers
        self.mlp_hidden_size, self.max_sequence_length = mlp_hidden_size, max_sequence_length
        self.rope_theta, self.mask_token_id, self.weight_tying = rope_theta, mask_token_id, weight_tying
        super().__init__(**kwargs)


def rotate(x, theta):
    half = x.shape[-1] // 2
    freq = theta ** (-torch.arange(half, dtype=torch.float32) / half)
    angle = torch.arange(x.shape[-2], dtype=torch.float32)[:, None] * freq[None]
    cos, sin = angle.cos().to(x.dtype), angle.sin().to(x.dtype)
    a, b = x[..., :half], x[..., half:]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class LLaDABlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads, self.theta = config.n_heads, config.rope_theta
        self.attn_norm = nn.LayerNorm(config.d_model)
        self.att_proj = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.attn_out = nn.Linear(config.d_model, config.d_model, bias=False)
        self.ff_norm = nn.LayerNorm(config.d_model)
        self.ff_proj = nn.Linear(config.d_model, config.mlp_hidden_size, bias=False)
        self.ff_out = nn.Linear(config.mlp_hidden_size, config.d_model, bias=False)

    def forward(self, h):
        b, n, d = h.shape
        q, k, v = self.att_proj(self.attn_norm(h)).view(b, n, 3, self.n_heads, d // self.n_heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))
        q, k = rotate(q, self.theta), rotate(k, self.theta)
        att = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).softmax(-1)  # every position sees all
        h = h + self.attn_out((att @ v).transpose(1, 2).reshape(b, n, d))
        return h + self.ff_out(torch.nn.functional.gelu(self.ff_proj(self.ff_norm(h))))


class LLaDAModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(LLaDABlock(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.ff_out = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def forward(self, input_ids, attention_bias=None):
        h = self.wte(input_ids)
        for block in self.blocks:
            h = block(h)
        return self.ff_out(self.ln_f(h))


class LLaDAModelLM(PreTrainedModel):
    config_class = LLaDAConfig
    base_model_prefix = "model"
    _no_split_modules = ["LLaDABlock"]

    def __init__(self, config, model=None, init_params=False):
        super().__init__(config)
        self.model = model if model is not None else LLaDAModel(config)  # no post_init(): 4.x-era code

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, attention_bias=None,
                past_key_values=None, labels=None, use_cache=None, output_attentions=None,
                output_hidden_states=None, return_dict=None, **kwargs):
        logits = self.model(input_ids, attention_bias=attention_bias)  # attention_mask is not used
        return CausalLMOutputWithPast(logits=logits)

    def get_input_embeddings(self):
        return self.model.wte

    def get_output_embeddings(self):
        return self.model.ff_out

    def tie_weights(self):
        if self.config.weight_tying:
            self.model.ff_out.weight = self.model.wte.weight
