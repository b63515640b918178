"""`python -m train NAME [NAME ...]`: fit each specialist's LoRA adapter on its dataset (see README).

    python -m train serpent                          # configs/defaults.yaml + configs/serpent.yaml
    python -m train serpent learning_rate=1e-4       # any SFTConfig / LoraConfig / ModelConfig field
    python -m train serpent --dry-run                # resolved config, dataset sizes, token lengths
    python -m train serpent --resume                 # continue from the latest checkpoint
    python -m train --all --overlay configs/demo.yaml
"""
from __future__ import annotations

import argparse
import sys

from extract import config as cfglib
from extract.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="NAME|KEY=VALUE", help="specialists, then config overrides")
    p.add_argument("--all", action="store_true", help="every specialist that has a dataset, one after another")
    p.add_argument("--overlay", default=None, help="config overlay, e.g. configs/demo.yaml")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and data, then exit")
    p.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in outputs/NAME/")
    a = p.parse_intermixed_args(argv)
    from train.model import quiet_libraries

    quiet_libraries()
    names = [x for x in a.items if "=" not in x]
    overrides = [x for x in a.items if "=" in x]
    try:
        from .sft import NoTrainingData, dry_run, known_fields, load_specialist, train

        names = cfglib.select_names(  # the overrides count: `paths.data=DIR` says where the datasets are
            names, a.all, lambda sp: sp.path("data").is_dir(), "no specialist has a dataset; run `make extract` first",
            overlay=a.overlay, overrides=overrides, known=known_fields() if a.all else None)

        specs = [load_specialist(n, a.overlay, overrides) for n in names]  # every config checked before any model loads
        for sp in specs:
            try:
                if a.dry_run:
                    dry_run(sp)
                    continue
                print(f"train {sp.name}: {sp.config['model']['model_name_or_path']} on {sp.path('data')}", flush=True)
                s = train(sp, resume=a.resume)
            except NoTrainingData as e:
                if not a.all:
                    raise
                print(f"train: skipped {e}", file=sys.stderr, flush=True)  # --all goes on with the others
                continue
            before = f"{s['eval_loss_before']:.3f} -> " if s["eval_loss_before"] is not None else ""
            after = f"{s['eval_loss_after']:.3f}" if s["eval_loss_after"] is not None else "n/a (no test split)"
            print(f"train {sp.name}: {s['global_step']} steps, {s['tokens_seen']} tokens in {s['wall_seconds']} s "
                  f"({s['tokens_per_second']} tok/s), held-out loss {before}{after} -> {sp.path('outputs')}/adapter"
                  + (f" (resumed from {s['resumed_from']})" if s["resumed_from"] else ""), flush=True)
    except ConfigError as e:
        print(f"train: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
