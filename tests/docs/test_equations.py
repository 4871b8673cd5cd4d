"""Each equation the concept pages state, computed by hand from the formula, equals the code."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bigmodel.models.bert import BertConfig, BertForPreTraining
from bigmodel.models.gpt import GPT, GPTConfig, causal_lm_loss
from bigmodel.nn import FeedForward, MultiHeadAttention, TransformerBlock, sinusoidal_positions
from bigmodel.nn.attention import causal_mask, scaled_dot_product_attention


def test_attention_softmax_qk_over_sqrt_dk_times_v() -> None:
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    by_hand = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(8), dim=-1) @ v
    fast, _ = scaled_dot_product_attention(q, k, v)
    explicit, weights = scaled_dot_product_attention(q, k, v, need_weights=True)
    assert torch.allclose(fast, by_hand, atol=1e-5)
    assert torch.allclose(explicit, by_hand, atol=1e-5)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 3, 5), atol=1e-6)


def test_multi_head_is_concat_of_heads_times_wo() -> None:
    d_model, n_heads = 12, 3
    mha = MultiHeadAttention(d_model, n_heads).eval()
    x = torch.randn(2, 6, d_model)
    w_q, w_k, w_v = mha.qkv_proj.weight.split(d_model)  # each (d_model, d_model), rows = outputs
    b_q, b_k, b_v = mha.qkv_proj.bias.split(d_model)
    heads = []
    for i in range(n_heads):
        rows = slice(i * 4, (i + 1) * 4)
        q = x @ w_q[rows].T + b_q[rows]
        k = x @ w_k[rows].T + b_k[rows]
        v = x @ w_v[rows].T + b_v[rows]
        heads.append(torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(4), dim=-1) @ v)
    by_hand = torch.cat(heads, dim=-1) @ mha.out_proj.weight.T + mha.out_proj.bias
    out, _ = mha(x)
    assert torch.allclose(out, by_hand, atol=1e-5)


def test_causal_mask_allows_j_le_i() -> None:
    mask = causal_mask(4, 4)
    assert mask.tolist() == [[j <= i for j in range(4)] for i in range(4)]
    q = torch.randn(1, 1, 4, 8)
    _, weights = scaled_dot_product_attention(q, q, q, is_causal=True, need_weights=True)
    assert torch.all(weights[0, 0].triu(diagonal=1) == 0)


def test_sinusoidal_positions_formula() -> None:
    table = sinusoidal_positions(50, 16)
    for p in (0, 7, 49):
        for i in range(8):
            angle = p / 10000 ** (2 * i / 16)
            assert math.isclose(table[p, 2 * i].item(), math.sin(angle), abs_tol=1e-5)
            assert math.isclose(table[p, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-5)


def test_feed_forward_formula() -> None:
    ffn = FeedForward(8, 32, activation="relu").eval()
    x = torch.randn(3, 8)
    by_hand = torch.relu(x @ ffn.fc_in.weight.T + ffn.fc_in.bias) @ ffn.fc_out.weight.T + ffn.fc_out.bias
    assert torch.allclose(ffn(x), by_hand, atol=1e-6)


def test_post_ln_and_pre_ln_residuals() -> None:
    x = torch.randn(2, 5, 8)
    post = TransformerBlock(8, 2, 16, norm_first=False).eval()
    h = post.self_attn_norm(x + post.self_attn(x)[0])
    by_hand = post.ffn_norm(h + post.ffn(h))
    assert torch.allclose(post(x)[0], by_hand, atol=1e-6)
    pre = TransformerBlock(8, 2, 16, norm_first=True).eval()
    h = x + pre.self_attn(pre.self_attn_norm(x))[0]
    by_hand = h + pre.ffn(pre.ffn_norm(h))
    assert torch.allclose(pre(x)[0], by_hand, atol=1e-6)


def test_mlm_loss_over_selected_positions_and_nsp_on_pooled_cls() -> None:
    model = BertForPreTraining(BertConfig(vocab_size=40, max_seq_len=16, d_model=16, n_layers=1,
                                          n_heads=2, d_ff=32)).eval()
    ids = torch.randint(5, 40, (2, 10))
    selected = torch.zeros_like(ids, dtype=torch.bool)
    selected[0, [2, 5]] = True
    selected[1, 7] = True
    labels = torch.where(selected, ids, torch.full_like(ids, -100))
    nsp_labels = torch.tensor([0, 1])
    out = model(ids, labels=labels, next_sentence_label=nsp_labels)
    h = out_hidden = model.bert(ids).last_hidden_state
    head = model.mlm_head
    z = F.layer_norm(F.gelu(h @ head.transform.weight.T + head.transform.bias), (16,),
                     head.norm.weight, head.norm.bias, eps=1e-12)
    logits = z @ model.bert.embeddings.token.weight.T + head.decoder.bias  # W_o tied to E_tok
    log_p = torch.log_softmax(logits, dim=-1)
    l_mlm = -log_p[selected].gather(-1, ids[selected][:, None]).mean()
    pooled = torch.tanh(out_hidden[:, 0] @ model.bert.pooler.weight.T + model.bert.pooler.bias)
    l_nsp = -torch.log_softmax(pooled @ model.nsp_head.weight.T + model.nsp_head.bias, -1)[[0, 1], nsp_labels].mean()
    assert torch.allclose(out.loss, l_mlm + l_nsp, atol=1e-5)


def test_causal_factorization_and_loss() -> None:
    model = GPT(GPTConfig(vocab_size=30, max_seq_len=16, d_model=16, n_layers=2, n_heads=2)).eval()
    ids = torch.randint(0, 30, (1, 9))
    with torch.no_grad():
        logits = model(ids).logits
        # log p(x) = Σ log p(x_{i+1} | x_≤i), each conditional from a forward pass on the prefix alone
        by_prefix = sum(
            torch.log_softmax(model(ids[:, : i + 1]).logits[0, -1], -1)[ids[0, i + 1]] for i in range(8)
        )
    log_p = torch.log_softmax(logits[0, :-1], -1).gather(-1, ids[0, 1:, None]).sum()
    assert torch.allclose(log_p, by_prefix, atol=1e-4)
    assert torch.allclose(causal_lm_loss(logits, ids), -log_p / 8, atol=1e-5)
    h = model.transformer(ids).last_hidden_state
    assert torch.allclose(logits, h @ model.transformer.embeddings.token.weight.T, atol=1e-5)


def _randomize_bn(module: torch.nn.Module) -> None:
    """Non-trivial running statistics and affine terms, so that BN(x) ≠ x in eval mode."""
    for bn in module.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            with torch.no_grad():
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)


def _bn(x: torch.Tensor, bn: torch.nn.BatchNorm2d) -> torch.Tensor:
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)


def test_resnet_basic_block_is_relu_of_f_plus_identity() -> None:
    from bigmodel.models.resnet import BasicBlock

    torch.manual_seed(0)
    block = BasicBlock(8, 8).eval()
    _randomize_bn(block)
    assert block.shortcut is None  # same shape: the identity shortcut
    x = torch.randn(2, 8, 6, 6)
    f = _bn(F.conv2d(torch.relu(_bn(F.conv2d(x, block.conv1.weight, padding=1), block.bn1)),
                     block.conv2.weight, padding=1), block.bn2)
    with torch.no_grad():
        assert torch.allclose(block(x.clone()), torch.relu(f + x), atol=1e-5)


def test_resnet_bottleneck_shapes_and_projection_shortcut() -> None:
    from bigmodel.models.resnet import Bottleneck

    torch.manual_seed(0)
    block = Bottleneck(16, 32, stride=2).eval()
    _randomize_bn(block)
    # width = out / 4: squeeze 16 -> 8 with 1x1, 3x3 of stride 2 at width 8, expand 8 -> 32
    assert block.conv1.weight.shape == (8, 16, 1, 1)
    assert block.conv2.weight.shape == (8, 8, 3, 3) and block.conv2.stride == (2, 2)
    assert block.conv3.weight.shape == (32, 8, 1, 1)
    x = torch.randn(2, 16, 8, 8)
    h = torch.relu(_bn(F.conv2d(x, block.conv1.weight), block.bn1))
    h = torch.relu(_bn(F.conv2d(h, block.conv2.weight, stride=2, padding=1), block.bn2))
    f = _bn(F.conv2d(h, block.conv3.weight), block.bn3)
    shortcut = _bn(F.conv2d(x, block.shortcut.conv.weight, stride=2), block.shortcut.bn)  # BN(W_s * x)
    with torch.no_grad():
        y = block(x.clone())
    assert y.shape == (2, 32, 4, 4)
    assert torch.allclose(y, torch.relu(f + shortcut), atol=1e-5)


def test_lora_output_and_merged_weight_are_w_plus_scaled_ba() -> None:
    from bigmodel.nn.lora import LoRALinear

    torch.manual_seed(0)
    base = torch.nn.Linear(12, 10)
    w, b = base.weight.detach().clone(), base.bias.detach().clone()
    layer = LoRALinear(base, rank=4, alpha=8.0)
    with torch.no_grad():
        layer.lora_B.weight.normal_()  # B starts at zero; give it a value so the update shows
    a_mat, b_mat = layer.lora_A.weight.detach(), layer.lora_B.weight.detach()  # A: (r, in)  B: (out, r)
    assert a_mat.shape == (4, 12) and b_mat.shape == (10, 4)
    w_prime = w + (8.0 / 4) * b_mat @ a_mat  # W' = W + (α/r)·B·A   (out, in)
    x = torch.randn(3, 5, 12)
    with torch.no_grad():
        assert torch.allclose(layer(x), x @ w_prime.T + b, atol=1e-5)
        merged = layer.merged()
        assert torch.allclose(merged.weight, w_prime, atol=1e-6)
        assert torch.allclose(merged(x), layer(x), atol=1e-5)
    assert not layer.weight.requires_grad and layer.lora_A.weight.requires_grad  # W frozen, A and B train


def test_sampling_temperature_top_k_top_p() -> None:
    from bigmodel.decoding.processors import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    torch.manual_seed(0)
    z = torch.randn(3, 40) * 3
    ids = torch.zeros(3, 1, dtype=torch.long)
    # temperature: softmax(z / τ)
    assert torch.allclose(TemperatureLogitsWarper(0.5)(ids, z).softmax(-1), torch.softmax(z / 0.5, -1))
    # top-k: the k largest survive, everything else has probability 0
    kept = TopKLogitsWarper(5)(ids, z).softmax(-1) > 0
    by_hand = torch.zeros_like(kept).scatter(1, z.topk(5).indices, True)
    assert torch.equal(kept, by_hand)
    # top-p: the smallest most-probable prefix whose mass reaches p
    p = torch.softmax(z, -1)
    kept = TopPLogitsWarper(0.9)(ids, z).softmax(-1) > 0
    for row in range(3):
        order = p[row].argsort(descending=True)
        n = int((p[row][order].cumsum(0) < 0.9).sum()) + 1  # first prefix with mass ≥ 0.9
        expected = torch.zeros(40, dtype=torch.bool)
        expected[order[:n]] = True
        assert torch.equal(kept[row], expected)
        assert float(p[row][expected].sum()) >= 0.9 > float(p[row][order[: n - 1]].sum())
