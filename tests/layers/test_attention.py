"""Relative attention and CoAtNet's Transformer block against brute-force loops and plain multi-head attention."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnkit.errors import ConfigError
from cnnkit.layers import RelativeAttention2d, TransformerBlock, relative_position_index


def _bias_by_hand(table: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(heads, HW, HW): entry [h, i, j] is the table's row for the offset (dy, dx) of position i from position j."""
    positions = [(r, c) for r in range(height) for c in range(width)]
    bias = table.new_zeros(table.shape[1], height * width, height * width)
    for i, (ri, ci) in enumerate(positions):
        for j, (rj, cj) in enumerate(positions):
            bias[:, i, j] = table[(ri - rj + height - 1) * (2 * width - 1) + (ci - cj + width - 1)]
    return bias


def test_relative_index_maps_equal_offsets_to_the_same_entry() -> None:
    height, width = 3, 4
    index = relative_position_index(height, width)
    assert index.shape == (12, 12)
    positions = [(r, c) for r in range(height) for c in range(width)]
    entry_of_offset: dict[tuple[int, int], int] = {}
    for i, (ri, ci) in enumerate(positions):
        for j, (rj, cj) in enumerate(positions):
            offset = (ri - rj, ci - cj)
            # the same offset anywhere on the map reads the same entry, and different offsets differ
            assert entry_of_offset.setdefault(offset, int(index[i, j])) == int(index[i, j])
    assert len(entry_of_offset) == (2 * height - 1) * (2 * width - 1)
    assert sorted(entry_of_offset.values()) == list(range((2 * height - 1) * (2 * width - 1)))


def test_relative_attention_equals_brute_force() -> None:
    torch.manual_seed(0)
    height, width, chans = 3, 4, 64
    attn = RelativeAttention2d(chans, chans, (height, width)).double()
    nn.init.normal_(attn.relative_bias)  # large enough to matter
    x = torch.randn(2, height * width, chans, dtype=torch.float64)
    qkv = x @ attn.qkv.weight.T + attn.qkv.bias
    q, k, v = qkv.split(chans, dim=-1)
    positions = [(r, c) for r in range(height) for c in range(width)]
    out = torch.zeros(2, height * width, chans, dtype=torch.float64)
    for h in range(attn.heads):
        part = slice(32 * h, 32 * (h + 1))
        logits = torch.zeros(2, height * width, height * width, dtype=torch.float64)
        for i, (ri, ci) in enumerate(positions):
            for j, (rj, cj) in enumerate(positions):
                entry = (ri - rj + height - 1) * (2 * width - 1) + (ci - cj + width - 1)
                logits[:, i, j] = (q[:, i, part] * k[:, j, part]).sum(-1) / 32**0.5 + attn.relative_bias[entry, h]
        out[:, :, part] = logits.softmax(-1) @ v[:, :, part]
    expected = out @ attn.proj.weight.T + attn.proj.bias
    with torch.no_grad():
        torch.testing.assert_close(attn(x), expected)


def test_relative_attention_with_a_zero_bias_is_plain_multi_head_attention() -> None:
    torch.manual_seed(1)
    height, width, chans, heads = 2, 3, 64, 2
    attn = RelativeAttention2d(chans, chans, (height, width)).double()
    nn.init.zeros_(attn.relative_bias)
    x = torch.randn(2, height * width, chans, dtype=torch.float64)
    # By hand: each head attends with its own 32 of the q, k, v channels, softmax(q k^T / sqrt(32)) v.
    q, k, v = F.linear(x, attn.qkv.weight, attn.qkv.bias).split(chans, dim=-1)
    heads_out = []
    for h in range(heads):
        part = slice(32 * h, 32 * (h + 1))
        weights = torch.einsum("nid,njd->nij", q[..., part], k[..., part]).div(32**0.5).softmax(-1)
        heads_out.append(torch.einsum("nij,njd->nid", weights, v[..., part]))
    by_hand = F.linear(torch.cat(heads_out, dim=-1), attn.proj.weight, attn.proj.bias)
    # And torch's own multi-head attention on the same weights.
    mha = nn.MultiheadAttention(chans, heads, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight)
        mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.proj.weight)
        mha.out_proj.bias.copy_(attn.proj.bias)
        y = attn(x)
        torch.testing.assert_close(y, by_hand)
        torch.testing.assert_close(y, mha(x, x, x, need_weights=False)[0])


def test_transformer_block_equals_functional_reference() -> None:
    torch.manual_seed(2)
    block = TransformerBlock(32, 64, (2, 2), downsample=True).double()
    nn.init.normal_(block.attn.relative_bias)
    for norm in (block.norm1, block.norm2):
        nn.init.uniform_(norm.weight, 0.5, 1.5)
        nn.init.uniform_(norm.bias, -0.2, 0.2)
    x = torch.randn(2, 32, 4, 4, dtype=torch.float64)
    attn, fc1, fc2 = block.attn, block.mlp[0], block.mlp[2]
    # Pre-norm: LayerNorm over channels, then the 3x3 stride-2 max-pool, then attention on the 2x2 tokens.
    y = F.layer_norm(x.permute(0, 2, 3, 1), (32,), block.norm1.weight, block.norm1.bias).permute(0, 3, 1, 2)
    tokens = F.max_pool2d(y, 3, stride=2, padding=1).flatten(2).transpose(1, 2)  # (2, 4, 32)
    q, k, v = F.linear(tokens, attn.qkv.weight, attn.qkv.bias).view(2, 4, 3, 2, 32).permute(2, 0, 3, 1, 4)
    mask = _bias_by_hand(attn.relative_bias, 2, 2)  # a float mask is added to the logits
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(2, 4, 64)
    y = F.linear(y, attn.proj.weight, attn.proj.bias)
    # The paper's Proj(Pool(x)) shortcut, then the MLP residual.
    shortcut = F.conv2d(F.max_pool2d(x, 3, stride=2, padding=1), block.shortcut[1].weight, block.shortcut[1].bias)
    t = shortcut.flatten(2).transpose(1, 2) + y
    h = F.layer_norm(t, (64,), block.norm2.weight, block.norm2.bias)
    t = t + F.linear(F.gelu(F.linear(h, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
    expected = t.transpose(1, 2).reshape(2, 64, 2, 2)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_downsampling_transformer_block_pools_the_shortcut() -> None:
    block = TransformerBlock(32, 64, (2, 2), downsample=True)
    assert isinstance(block.shortcut[0], nn.MaxPool2d)
    assert block(torch.randn(2, 32, 4, 4)).shape == (2, 64, 2, 2)


def test_attention_width_must_split_into_heads() -> None:
    with pytest.raises(ConfigError, match="multiple of head_dim"):
        RelativeAttention2d(48, 48, (2, 2))
