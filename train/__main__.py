"""`python -m train NAME [NAME ...]`: fit each specialist's LoRA adapter on its dataset (see README).

    python -m train serpent                          # configs/defaults.yaml + configs/serpent.yaml
    python -m train serpent learning_rate=1e-4       # any SFTConfig / LoraConfig / ModelConfig field
    python -m train serpent --dry-run                # resolved config, dataset sizes, token lengths
    python -m train serpent --inspect 3              # 3 training windows, trained tokens in colour
    python -m train serpent --resume                 # continue from the latest checkpoint
    python -m train --all --overlay configs/demo.yaml
    accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 2 -m train serpent
"""
from __future__ import annotations

import argparse
import sys

from core import config as cfglib
from core.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("items", nargs="*", metavar="NAME|KEY=VALUE", help="specialists, then config overrides")
    p.add_argument("--all", action="store_true", help="every specialist that has a dataset, one after another")
    p.add_argument("--overlay", default=None, help="config overlay, e.g. configs/demo.yaml")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and data, then exit")
    p.add_argument("--inspect", nargs="?", const="3", default=None, metavar="N",
                   help="print N training windows (default 3) with the trained tokens coloured, then exit")
    p.add_argument("--resume", action="store_true", help="resume from the latest checkpoint in outputs/NAME/")
    p.add_argument("--init-adapter", default=None, metavar="DIR",
                   help="continue training this adapter's weights instead of a fresh LoRA (the cycle's start_from)")
    a = p.parse_intermixed_args(argv)
    from core.models import quiet_libraries

    quiet_libraries()
    if a.inspect is not None and not a.inspect.isdigit():  # `--inspect serpent`: N left out, the next item taken
        a.items.insert(0, a.inspect)
        a.inspect = "3"
    names = [x for x in a.items if "=" not in x]
    overrides = [x for x in a.items if "=" in x]
    try:
        from .sft import (NoTrainingData, check_switches, dry_run, inspect, is_main_process,
                          load_specialist, say, train)

        names = cfglib.select_names(  # the overrides count: `paths.data=DIR` says where the datasets are
            names, a.all, lambda sp: sp.path("data").is_dir(), "no specialist has a dataset; run `make extract` first",
            overlay=a.overlay, overrides=overrides)

        specs = [load_specialist(n, a.overlay, overrides) for n in names]  # every config checked before any model loads
        for sp in specs:
            check_switches(sp)
        for sp in specs:
            try:
                if a.dry_run or a.inspect is not None:
                    if not is_main_process():  # under a launcher, one copy of the report
                        continue
                    if a.dry_run:
                        dry_run(sp)
                    else:
                        inspect(sp, int(a.inspect))
                    continue
                say(f"train {sp.name}: {sp.config['model']['model_name_or_path']} on {sp.path('data')}")
                # train() holds outputs/<name>'s lock: a running cycle or another train makes this refuse
                s = train(sp, resume=a.resume, init_adapter=a.init_adapter)
            except NoTrainingData as e:
                if not a.all:
                    raise
                say(f"train: skipped {e}", file=sys.stderr)  # --all goes on with the others
                continue
            if s is None:  # RESUME=1 on a finished run: said so, nothing written
                continue
            before = f"{s['held_out_loss_base']:.3f} -> " if s["held_out_loss_base"] is not None else ""
            after = f"{s['held_out_loss_adapter']:.3f}" if s["held_out_loss_adapter"] is not None else "n/a (no test split)"
            steps = (f"{s['global_step']} steps ({s['steps_this_run']} in this run)" if s["resumed_from"]
                     else f"{s['global_step']} steps")
            say(f"train {sp.name}: {steps}, {s['tokens_this_run']} tokens in {s['wall_seconds']} s "
                f"({s['tokens_per_second']} tok/s), held-out loss {before}{after} -> {sp.path('outputs')}/adapter"
                + (f" (resumed from {s['resumed_from']})" if s["resumed_from"] else ""))
    except ConfigError as e:
        from .sft import is_main_process

        if is_main_process():
            print(f"train: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    from core import entry

    sys.exit(entry.run("train", main, interrupted="the previous adapter is unchanged; checkpoints written so far "
                                                  "stay, and RESUME=1 continues from the latest"))
