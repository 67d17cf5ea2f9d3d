"""DistributedDataParallel on CPU: two gloo processes under torchrun against one process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

SCRIPT = textwrap.dedent('''
    import os
    import sys
    import torch
    import torch.distributed as dist
    from torch.utils.data import Subset
    from ds2ta.data import get_dataset
    from ds2ta.train_utils import TrainConfig, seed_everything
    from ds2ta.training import build_model, fit

    out = sys.argv[1]
    torch.set_num_threads(1)
    train, test, info = get_dataset("digits")
    train, test = Subset(train, range(64)), Subset(test, range(30))
    tc = TrainConfig(epochs=2, batch_size=16, lr=1e-2, warmup_epochs=0.5, mixup=0.0,
                     device="cpu", progress=False, seed=0)
    seed_everything(0)  # a model without BatchNorm: the global batch defines the result
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 10))
    m1 = fit(mlp, train, test, info, tc)
    ds = build_model("tiny", info, seed=0, embed_dim=16, heads=2, mlp_ratio=2, T=2)
    m2 = fit(ds, train, test, info, tc, out_dir=out + "/ckpt_w" + os.environ.get("WORLD_SIZE", "1"))
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    torch.save({"mlp": mlp.state_dict(), "ds2ta": ds.state_dict(), "world": world,
                "acc": [m1["test_accuracy"], m2["test_accuracy"]], "metrics": m2},
               f"{out}/w{world}_rank{rank}.pt")
''')


def _run(cmd, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
          str(script), str(tmp_path)], tmp_path)
    _run([sys.executable, str(script), str(tmp_path)], tmp_path)
    r0, r1 = (torch.load(tmp_path / f"w2_rank{r}.pt") for r in (0, 1))
    single = torch.load(tmp_path / "w1_rank0.pt")
    assert r0["world"] == 2 and r0["metrics"]["world_size"] == 2
    # ranks stay in sync: identical weights and BN statistics, identical test accuracy
    for k in r0["ds2ta"]:
        assert torch.equal(r0["ds2ta"][k], r1["ds2ta"][k]), k
    assert r0["acc"] == r1["acc"]
    # without BatchNorm, 2 x 8 samples per step == 16 samples in one process (same permutation)
    for k in single["mlp"]:
        torch.testing.assert_close(r0["mlp"][k], single["mlp"][k], rtol=1e-5, atol=1e-6)
    assert r0["acc"][0] == single["acc"][0]
    # only rank 0 wrote the checkpoint, and it holds the synchronised weights
    from ds2ta.checkpoint import load_checkpoint
    model, ckpt = load_checkpoint(tmp_path / "ckpt_w2" / "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, r0["ds2ta"][k]), k
