"""A tiny Dream-style diffusion LM written for transformers 4.x (test fixture, our own code).

What makes it Dream-like: ``model_type`` "Dream" loaded through ``auto_map``; a Qwen2-shaped
bidirectional transformer whose rotary table comes from ``ROPE_INIT_FUNCTIONS[rope_type]`` with
``rope_type = "default"`` (an entry transformers 5.x removed); it honours ``attention_mask``; and it
keeps the autoregressive shift of the LM it was adapted from: output ``i`` predicts token ``i + 1``.
"""

import math

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS


class DreamConfig(PretrainedConfig):
    model_type = "Dream"

    def __init__(self, vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=2, max_position_embeddings=64, rope_theta=10000.0, rope_scaling=None,
                 mask_token_id=4, pad_token_id=0, **kwargs):
        self.vocab_size, self.hidden_size = vocab_size, hidden_size
        self.intermediate_size, self.num_hidden_layers = intermediate_size, num_hidden_layers
        self.num_attention_heads, self.max_position_embeddings = num_attention_heads, max_position_embeddings
        self.rope_theta, self.rope_scaling = rope_theta, rope_scaling
        self.mask_token_id = mask_token_id
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(pad_token_id=pad_token_id, **kwargs)


class DreamRotaryEmbedding(nn.Module):
    def __init__(self, config, device=None):
        super().__init__()
        self.rope_type = (config.rope_scaling or {}).get("rope_type", "default")
        self.rope_init_fn = ROPE_INIT_FUNCTIONS[self.rope_type]
        inv_freq, self.attention_scaling = self.rope_init_fn(config, device)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x, position_ids):
        angle = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        emb = torch.cat([angle, angle], dim=-1)
        scale = self.attention_scaling
        return (emb.cos() * scale).to(x.dtype), (emb.sin() * scale).to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


class DreamLayer(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.hidden_size
        self.heads = config.num_attention_heads
        self.input_layernorm, self.post_attention_layernorm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.up_proj = nn.Linear(d, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, d, bias=False)

    def forward(self, h, cos, sin, bias):
        b, n, d = h.shape
        x = self.input_layernorm(h)
        q, k, v = (p(x).view(b, n, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))
        cos, sin = cos[:, None], sin[:, None]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        att = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias).softmax(-1)
        h = h + self.o_proj((att @ v).transpose(1, 2).reshape(b, n, d))
        return h + self.down_proj(nn.functional.silu(self.up_proj(self.post_attention_layernorm(h))))


class DreamPreTrainedModel(PreTrainedModel):
    config_class = DreamConfig
    base_model_prefix = "model"

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(0.0, 0.2)


class DreamModel(DreamPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DreamLayer(config) for _ in range(config.num_hidden_layers))
        self.norm = nn.LayerNorm(config.hidden_size)
        self.rotary_emb = DreamRotaryEmbedding(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids, attention_mask=None, position_ids=None, **kwargs):
        b, n = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(n)[None].expand(b, n)
        bias = torch.zeros(b, 1, 1, n)
        if attention_mask is not None:  # keys at padding are hidden
            bias = bias.masked_fill(~attention_mask.bool()[:, None, None, :], float("-inf"))
        h = self.embed_tokens(input_ids)
        cos, sin = self.rotary_emb(h, position_ids)
        for layer in self.layers:
            h = layer(h, cos, sin, bias)
        return MaskedLMOutput(logits=self.lm_head(self.norm(h)))  # output i: token i + 1
