"""lm-evaluation-harness's own ``local-completions`` model against the server: loglikelihood
(echo + logprobs) equal to the model's, is_greedy right, generate_until works.

Runs where lm-eval is importable (not a dependency of bigmodel)::

    pip install --target /tmp/lmeval --no-deps lm-eval && pip install --target /tmp/lmeval aiohttp tenacity
    PYTHONPATH=/tmp/lmeval pytest tests/serve/test_eval_harness.py
"""

from __future__ import annotations

import pytest
import torch

import bigmodel as bm
from bigmodel.hub import resolve_model_dir

harness = pytest.importorskip("lm_eval.models.openai_completions", reason="lm-eval is not installed")


def test_loglikelihood_and_generation_through_lm_eval() -> None:
    from lm_eval.api.instance import Instance

    from bigmodel.serve import BackgroundServer, create_app

    model, tok = bm.load("tiny-gpt-en").eval(), bm.load_tokenizer("tiny-gpt-en")

    def logp(ids: list[int]) -> torch.Tensor:
        with torch.inference_mode():
            return torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)

    context = "And the LORD said unto"
    best = int(logp(tok.encode(context, add_special_tokens=False))[-1].argmax())
    pairs = [("The cat sat on the", " mat"), (context, tok.decode([best]))]
    with BackgroundServer(create_app(["tiny-gpt-en"])) as server:
        lm = harness.LocalCompletionsAPI(base_url=server.url + "/v1/completions", model="tiny-gpt-en",
                                         tokenizer_backend="huggingface",
                                         tokenizer=str(resolve_model_dir("tiny-gpt-en")), max_retries=1)
        got = lm.loglikelihood([Instance(request_type="loglikelihood", doc={}, arguments=p, idx=i)
                                for i, p in enumerate(pairs)])
        text = lm.generate_until([Instance(request_type="generate_until", doc={}, idx=0,
                                           arguments=(context, {"until": ["\n"], "max_gen_toks": 4}))])
    for (ctx, cont), (score, greedy) in zip(pairs, got, strict=True):
        c, w = tok.encode(ctx, add_special_tokens=False), tok.encode(cont, add_special_tokens=False)
        table = logp(c + w)
        assert abs(score - sum(float(table[len(c) - 1 + i, t]) for i, t in enumerate(w))) <= 1e-4
        assert greedy == all(int(table[len(c) - 1 + i].argmax()) == t for i, t in enumerate(w))
    assert got[1][1] is True  # the model's own argmax continuation is greedy
    assert isinstance(text[0], str) and text[0]
