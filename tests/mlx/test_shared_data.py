"""toolset-cuda and toolset-mlx prepare their SFT data through one path (toolset.data.prepare): the same config gives
both trainers the same template decision, the same tokenized examples and loss masks, and the same numbers."""

from __future__ import annotations

import pytest

from toolset.config import load_config
from toolset.data.readers import sample_path

pytest.importorskip("toolset_cuda")


def test_cuda_and_mlx_train_on_the_same_examples(mlx_base):
    from toolset_cuda.training import plan_run
    from toolset_mlx.trainer import _template, stage_data, stages_of

    config = load_config(
        overrides=[
            f"model.name={mlx_base}",
            "model.source=local",
            f"dataset.sft=[{sample_path('claudesidian_sft.jsonl')}]",
            "dataset.eval_fraction=0.2",
            "dataset.tools=used",
        ]
    )
    plan = plan_run("sft", config, echo=lambda line: None)
    tokenizer, template, note = _template(config, mlx_base)
    [stage] = stages_of(config)
    data = stage_data(config, stage, tokenizer, template)
    assert (template, note) == (plan.data.chat_template, plan.data.template_note)
    assert len(data.train) == len(plan.data.train) > 0 and len(data.eval) == len(plan.data.eval) > 0
    for mine, theirs in zip([*data.train, *data.eval], [*plan.data.train, *plan.data.eval], strict=True):
        assert (mine.input_ids, mine.mask, mine.where) == (theirs.input_ids, theirs.mask, theirs.where)
    assert data.stats == plan.data.stats
    assert data.stats["tool_offer"]["policy"] == "used" and data.stats["trained_tokens"] > 0
