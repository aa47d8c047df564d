"""Builders for the template tests: tiny models and tokenizers made locally, toy data sets, and a runner that
calls a template the way a launcher does (a subprocess, offline). Nothing here downloads anything."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

from remote_jobs.tiny_models import TOPICS, build_tiny_bert  # noqa: F401  (the tests import both from here)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CHAT_TEMPLATE = (  # {% generation %} marks the assistant tokens TRL keeps in the loss, end-of-turn included
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>assistant\n{% generation %}"
    "{{ m['content'] }}<|im_end|>{% endgeneration %}\n{% else %}<|im_start|>{{ m['role'] }}\n"
    "{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ANIMALS = {"cat": "meow", "dog": "woof", "cow": "moo", "duck": "quack", "sheep": "baa", "owl": "hoot",
           "frog": "ribbit", "lion": "roar", "snake": "hiss", "mouse": "squeak", "horse": "neigh",
           "bee": "buzz"}
# (word, antonym, synonym): retrieval must prefer the antonym, which an untrained MiniLM often does not.
OPPOSITES = [
    ("hot", "cold", "warm"), ("big", "small", "large"), ("fast", "slow", "quick"), ("happy", "sad", "glad"),
    ("rich", "poor", "wealthy"), ("old", "young", "aged"), ("light", "dark", "bright"),
    ("hard", "soft", "firm"),
    ("full", "empty", "filled"), ("strong", "weak", "powerful"), ("early", "late", "prompt"),
    ("loud", "quiet", "noisy"), ("wet", "dry", "damp"), ("high", "low", "tall"), ("thick", "thin", "dense"),
    ("clean", "dirty", "tidy"), ("open", "closed", "unlocked"), ("cheap", "expensive", "inexpensive"),
    ("brave", "cowardly", "bold"), ("wide", "narrow", "broad"), ("sharp", "dull", "keen"),
    ("heavy", "light weight", "weighty"), ("true", "false", "correct"), ("win", "lose", "triumph"),
    ("love", "hate", "adore"), ("begin", "end", "start"), ("buy", "sell", "purchase"),
    ("push", "pull", "shove"),
    ("accept", "reject", "approve"), ("increase", "decrease", "raise"), ("arrive", "depart", "come"),
    ("remember", "forget", "recall"), ("friend", "enemy", "ally"), ("day", "night", "daytime"),
    ("north", "south", "northern"), ("top", "bottom", "peak"), ("inside", "outside", "within"),
    ("above", "below", "over"), ("before", "after", "prior"), ("give", "take", "donate"),
]


def load_template(task: str):
    """Import a template file as a module (its top level is stdlib only) for direct unit tests."""
    spec = importlib.util.spec_from_file_location(f"template_{task}", TEMPLATES / f"{task}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def chat_rows() -> list[dict]:
    asks = ("what does the {} say?", "which sound does a {} make?", "tell me the {} sound", "{} sound?")
    return [{"messages": [{"role": "user", "content": ask.format(a)},
                          {"role": "assistant", "content": f"the {a} says {s}"}]}
            for ask in asks for a, s in ANIMALS.items()]


def prompt_completion_rows() -> list[dict]:
    return [{"prompt": f"the {a} says", "completion": f" {s}"} for a, s in ANIMALS.items()] * 3


def text_rows() -> list[dict]:
    return [{"text": f"the {a} says {s} and the {a} says {s} again"} for a, s in ANIMALS.items()] * 3


def preference_rows() -> list[dict]:
    animals = list(ANIMALS.items())
    wrong = [s for _, s in animals[5:] + animals[:5]]  # another animal's sound
    return [{"prompt": f"the {a} says", "chosen": f" {s}", "rejected": f" {w}"}
            for (a, s), w in zip(animals, wrong, strict=True)] * 2


def question_rows(held_out: bool = False) -> list[dict]:
    """Prompts with the answer a verifiable reward checks (GRPO); the held-out ones are asked another way."""
    asks = ("{} sound?", "the sound of a {}?") if held_out else ("what does the {} say?", "which sound does a {} make?",
                                                                 "tell me the {} sound")
    return [{"prompt": ask.format(a), "answer": s} for ask in asks for a, s in ANIMALS.items()]


# A reward a random tiny model can climb within seconds: partial credit for every character of the answer that is
# a letter of the expected sound (the exact-answer reward would stay at 0 that long).
SOUND_LETTERS = '''
def sound_letters(completions, answer, **kwargs):
    found = []
    for completion, sound in zip(completions, answer):
        text = completion if isinstance(completion, str) else " ".join(m["content"] for m in completion)
        chars = [c for c in text if not c.isspace()]
        found.append(sum(c in set(sound) for c in chars) / len(chars) if chars else 0.0)
    return found
'''


def topic_rows(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    labels = list(TOPICS)
    return [{"text": " ".join(rng.choices(TOPICS[label], k=6)), "label": label}
            for label in (labels[i % 3] for i in range(count))]


def opposite_rows(triples, with_negative: bool) -> list[dict]:
    return [{"anchor": f"the opposite of {w}", "positive": a, **({"negative": s} if with_negative else {})}
            for w, a, s in triples]


def scored_opposite_rows(triples) -> list[dict]:
    """Pairs with a similarity score: the antonym scores 1, the synonym 0 (for CosineSimilarityLoss)."""
    return [{"anchor": f"the opposite of {w}", "positive": text, "score": score}
            for w, a, s in triples for text, score in ((a, 1.0), (s, 0.0))]


def build_bpe_tokenizer(out: Path):
    """Byte-level BPE trained on the toy corpus, with a chat template carrying generation markers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [m["content"] for r in chat_rows() for m in r["messages"]] + [r["text"] for r in text_rows()]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(corpus * 4, trainers.BpeTrainer(
        vocab_size=320, special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_tiny_llama(out: Path) -> Path:
    """A 2-layer Llama (hidden 64) with random weights: small enough to train for real in seconds on CPU."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = build_bpe_tokenizer(out)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def subprocess_env(home: Path) -> dict:
    """Offline, one thread per process (two runs share the two cores), caches inside the test's tmp dir."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               HF_HOME=str(home), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               PYTHONUNBUFFERED="1")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


@dataclass
class Result:
    """What a launcher sees of a run: exit code, stdout/stderr, and the parsed protocol lines."""

    code: int
    stdout: str
    stderr: str
    wall_s: float
    out: Path | None = None
    progress: list[dict] = field(default_factory=list)
    done: dict | None = None

    @property
    def losses(self) -> list[float]:
        return [p["loss"] for p in self.progress]


def parse_result(code: int, stdout: str, stderr: str, wall_s: float, out: Path | None) -> Result:
    """Collect every TUNEPLAN_* line, parsed as JSON (a malformed line fails the test here)."""
    result = Result(code, stdout, stderr, wall_s, out)
    for line in stdout.splitlines():
        kind, _, payload = line.partition(" ")
        if kind == "TUNEPLAN_PROGRESS":
            result.progress.append(json.loads(payload))
        elif kind == "TUNEPLAN_DONE":
            result.done = json.loads(payload)
    return result


def run_template(task: str, args: list[str], home: Path, out: Path | None = None,
                 timeout: float = 300) -> Result:
    """Run templates/<task>.py as a launcher does: a fresh, offline Python process."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(TEMPLATES / f"{task}.py"), *args], check=False,
                          capture_output=True, text=True, env=subprocess_env(home), timeout=timeout, cwd=home)
    return parse_result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start, out)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_distributed(task: str, args: list[str], home: Path, out: Path, nodes: int = 1, per_node: int = 2,
                    sharding: str = "ddp", timeout: float = 300) -> Result:
    """Run templates/<task>.py as a distributed launch does: the command from the one builder the providers use
    (``remote_jobs.distributed`` + ``Bundle.command``), CPU processes over gloo, each "node" a process group
    of its own on this machine with a static rendezvous at 127.0.0.1. The nodes' outputs are joined."""
    from providers.types import Bundle
    from remote_jobs.distributed import RunShape, launcher_args

    shape = RunShape(nodes, per_node, sharding, cpu=True)
    bundle = Bundle(root=TEMPLATES, task=task, entrypoint=str(TEMPLATES / f"{task}.py"), args=tuple(args),
                    output_dir="out", files=(), tarball=TEMPLATES, sha256="", launcher=launcher_args(shape),
                    cpu_only=True)
    env, port, start = {**subprocess_env(home), "CUDA_VISIBLE_DEVICES": ""}, free_port(), time.monotonic()
    procs = [subprocess.Popen(bundle.command(sys.executable, node_rank=rank, master_port=port), cwd=home, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in range(nodes)]
    outputs = [proc.communicate(timeout=timeout) for proc in procs]
    code = max(proc.returncode for proc in procs)
    return parse_result(code, "".join(o for o, _ in outputs), "".join(e for _, e in outputs),
                        time.monotonic() - start, out)


def run_in_process(task: str, args: list[str], out: Path | None = None) -> Result:
    """Run a template through its own `run(main)` inside the test process: the same code from argv to exit
    code, minus the process start. The ML imports (about 8 s of one core here) are then paid once per session
    rather than once per run, which keeps the suite inside its budget."""
    module, stdout, stderr = load_template(task), io.StringIO(), io.StringIO()
    argv, sys.argv, code, start = sys.argv, [str(TEMPLATES / f"{task}.py"), *args], 0, time.monotonic()
    sigterm = signal.getsignal(signal.SIGTERM)  # run() installs its own handler
    try:
        with redirect_stdout(stdout), redirect_stderr(stderr):
            module.run(module.main)
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = argv
        signal.signal(signal.SIGTERM, sigterm)
    return parse_result(code, stdout.getvalue(), stderr.getvalue(), time.monotonic() - start, out)


def job_file(path: Path, **overrides) -> Path:
    """A job.json as the launcher writes it: the resolved JobSpec, launcher-only keys included."""
    job = {"name": "tiny", "project": "tests", "owner": "ci", "resources": {"provider": "local"},
           "secrets": [], "outputs": {"merge_adapter": False, "push_to_hub": None}}
    for key, value in overrides.items():
        job[key] = {**job.get(key, {}), **value} if isinstance(value, dict) else value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def verify_manifest(out: Path) -> dict:
    """Recompute size and sha256 of every listed file; every file outside checkpoints/ must be listed."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    listed = {f["path"] for f in manifest["files"]}
    for entry in manifest["files"]:
        data = (out / entry["path"]).read_bytes()
        assert len(data) == entry["bytes"], entry["path"]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk - listed == {"manifest.json"} | {p for p in on_disk if p.startswith("checkpoints/")}
    return manifest


PROGRESS_KEYS = {"step", "total_steps", "epoch", "loss", "lr", "tokens_per_s", "eta_s"}
PROGRESS_EXTRAS = {"reward", "reward_std"}  # GRPO's sampled answers, beside the contract's keys
METRICS_KEYS = {"task", "method", "train", "eval", "wall_s", "tokens", "tokens_per_s",
                "peak_mem_allocated_gib", "peak_mem_reserved_gib", "device"}


def assert_succeeded(result: Result) -> None:
    """Exit 0, the done line last, and well-formed progress lines with increasing steps."""
    assert result.code == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == 'TUNEPLAN_DONE {"ok": true}'
    assert result.progress, "no progress lines"
    for line in result.progress:
        assert PROGRESS_KEYS <= set(line) <= PROGRESS_KEYS | PROGRESS_EXTRAS, line
    steps = [p["step"] for p in result.progress]
    assert steps == sorted(set(steps))


def assert_loss_fell(result: Result, by: float) -> None:
    first, last = result.losses[0], result.losses[-1]
    assert last < first - by, f"loss went {first:.3f} -> {last:.3f}"


def read_metrics(out: Path, task: str, method: str) -> dict:
    """metrics.json per the contract (CONTRACTS.md section 6), from a CPU run."""
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRICS_KEYS <= set(metrics)
    assert (metrics["task"], metrics["method"], metrics["device"]) == (task, method, "cpu")
    assert metrics["peak_mem_allocated_gib"] is None and metrics["peak_mem_reserved_gib"] is None
    assert metrics["wall_s"] > 0 and metrics["train"]["train_runtime"] > 0
    assert metrics["tokens"] > 0 and metrics["tokens_per_s"] > 0
    return metrics


def assert_failed(result: Result, code: int, message: str) -> None:
    """A user mistake: the given exit code, one `error:` line naming the problem, no traceback."""
    assert result.code == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last
    assert result.done == {"ok": False, "error": last.removeprefix("error: ")}
