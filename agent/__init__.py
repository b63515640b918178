"""Agent runs: mini-swe-agent on task sets, against served models; paired evaluation and trajectory generation."""
