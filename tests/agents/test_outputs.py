"""The agents' training commands write under runs/ by default, never over an existing file
without --overwrite, and never into the installed package without an explicit --out."""

from __future__ import annotations

import yaml

from agents.meta import DEFAULT_POLICY
from autolr.cli import main

SHIPPED = [DEFAULT_POLICY, DEFAULT_POLICY.with_suffix(".csv"), DEFAULT_POLICY.with_suffix(".png")]


def _tiny(tmp_path, small, **extra) -> str:
    small["train"][0]["budget_steps"] = 20  # 2 intervals: the command, not the numbers
    cfg = {"instances": small, "generations": 1, "population": 2, "episodes": 1, "hidden": 2}
    path = tmp_path / "meta.yaml"
    path.write_text(yaml.safe_dump({**cfg, **extra}))
    return str(path)


def test_meta_train_defaults_to_runs_and_needs_overwrite(tmp_path, small, monkeypatch, capsys):
    shipped = [p.read_bytes() for p in SHIPPED]
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    cfg = _tiny(tmp_path, small)
    assert main(["agents", "meta-train", cfg]) == 0
    out = work / "runs" / "agents" / "meta_policy.json"
    written = [out, out.with_suffix(".csv"), out.with_suffix(".png")]
    assert all(p.is_file() for p in written)
    assert "wrote runs/agents/meta_policy.json" in capsys.readouterr().out
    before = [p.read_bytes() for p in written]

    assert main(["agents", "meta-train", cfg]) == 2
    err = capsys.readouterr().err
    assert err.strip().endswith("runs/agents/meta_policy.png exist; pass --overwrite to replace")
    assert "runs/agents/meta_policy.json" in err
    assert [p.read_bytes() for p in written] == before  # nothing written

    assert main(["agents", "meta-train", cfg, "--overwrite"]) == 0
    assert [p.read_bytes() for p in SHIPPED] == shipped


def test_writing_into_the_package_needs_an_explicit_out(tmp_path, small, capsys):
    shipped = [p.read_bytes() for p in SHIPPED]
    inside = DEFAULT_POLICY.parent / "not_shipped.json"
    assert main(["agents", "meta-train", _tiny(tmp_path, small, out=str(inside))]) == 2
    err = capsys.readouterr().err
    assert "is inside the installed package" in err and "pass that path as --out" in err
    assert not inside.exists()
    # an explicit --out at the shipped file still needs --overwrite: refused before training
    cfg = _tiny(tmp_path, small)
    assert main(["agents", "meta-train", cfg, "--out", str(DEFAULT_POLICY)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert [p.read_bytes() for p in SHIPPED] == shipped


def test_rl_train_needs_overwrite_for_an_existing_file(tmp_path, capsys):
    policy = tmp_path / "p.pt"
    policy.write_bytes(b"keep")
    assert main(["agents", "train", "{timesteps: 8}", "--out", str(policy), "--quiet"]) == 2
    assert "pass --overwrite to replace" in capsys.readouterr().err
    assert policy.read_bytes() == b"keep"


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _train_args(monkeypatch, tmp_path, tty: bool, flags: tuple[str, ...] = ()) -> dict:
    """What `agents train` hands train_rl, with stderr a terminal or not."""
    import sys

    import agents.rltrain

    seen: dict = {}

    def fake(config, **kwargs):
        seen.update(kwargs)
        kwargs["log"]("episode 20  steps 400  return(20) +0.100")
        return tmp_path / "p.pt", []

    monkeypatch.setattr(agents.rltrain, "train_rl", fake)
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    assert main(["agents", "train", "{timesteps: 8}", "--out", str(tmp_path / "p.pt"), *flags]) == 0
    return seen


def test_rl_train_shows_a_bar_only_on_a_terminal(tmp_path, monkeypatch, capsys):
    assert _train_args(monkeypatch, tmp_path, tty=True)["progress"] is True
    assert _train_args(monkeypatch, tmp_path, True, ("--quiet",))["progress"] is False
    # under nohup or in a CI log a bar only appears at the end: episode lines instead
    assert _train_args(monkeypatch, tmp_path, tty=False)["progress"] is False
    out = capsys.readouterr().out
    assert out.count("episode 20  steps 400  return(20) +0.100\n") == 3
