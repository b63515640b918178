"""A run prints what the user can act on (issue 18, point 15): no FutureWarning about `gradient_checkpointing`, a
name TRL's SFTConfig sets by default and transformers deprecates, on every run."""
from __future__ import annotations

import warnings

import pytest


@pytest.mark.parametrize("overrides,on", [([], True), (["sft.activation_checkpointing=false"], False),
                                          (["sft.gradient_checkpointing=false"], False)])
def test_the_sft_config_says_nothing_about_gradient_checkpointing(overrides, on, tmp_path):
    from train.sft import load_specialist, sft_config

    sp = load_specialist("serpent", None, overrides)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = sft_config(sp, tmp_path / "checkpoints")
    assert not [w for w in caught if "checkpointing" in str(w.message)]
    assert args.activation_checkpointing is on  # the setting itself is kept, under its current name
