"""Reinforcement learning with verifiable rewards (GRPO, the DeepSeek-R1-Zero recipe) with TRL's GRPOTrainer:
LoRA, full or QLoRA.

Usage:
    uv run grpo.py --config job.json
    python grpo.py --model Qwen/Qwen2.5-0.5B-Instruct --method lora --output-dir out \
        --set data.train=math.jsonl --set 'grpo.rewards=["numeric","format"]' --max-steps 200

Settings: built-in defaults < the --config file (JSON or YAML: the resolved tuneplan JobSpec; paths relative
to the file) < flags (--model, --method, --output-dir, --epochs, --max-steps, --set any.key=value). Unknown
keys are errors. Data (jsonl/json/csv/parquet, or hub:org/name[:split]): `prompt` (a string, or chat messages
that the tokenizer's chat template turns into text) and, for the exact and numeric rewards, `answer`; every
other column reaches the reward functions by its name.

Each prompt is answered grpo.num_generations times (sampled at grpo.temperature, at most
grpo.max_completion_length tokens); the rewards score every answer and each answer is pushed up or down by how
far its reward is from its group's mean. Rewards, summed: `exact` (the answer, or the text of its last
<answer>...</answer>, equals `answer`, case and spacing aside), `numeric` (its last number equals the answer's),
`format` (grpo.format_regex matches the completion), `length` (0 up to grpo.length_target tokens, then down to
-1 at twice that), and any function of grpo.reward_file named in grpo.rewards, called as TRL calls reward
functions: f(prompts=..., completions=..., completion_ids=..., <column>=..., **kwargs) -> list of floats.
training.micro_batch_size counts answers, not prompts: micro_batch_size x grad_accum x processes must be a
multiple of num_generations. The sequence is grpo.max_prompt_length + grpo.max_completion_length (longer
prompts are left out, with a note); training.seq_len is not read.

grpo.kl_coef 0 (the default) loads no reference model; above 0 a full fine-tune keeps a frozen reference copy
beside the policy, and LoRA uses the base with the adapter switched off. The mean reward of greedy answers to
held-out prompts (data.eval, else a seeded 10 % of the prompts) is measured before and after training.

Output dir: model or adapter, tokenizer, metrics.json, resolved_config.json, checkpoints/ (for resuming:
rerun with the same dir; not in the manifest), and manifest.json, written last. Exit codes: 0 done, 2 bad
input, 3 --require-resume without a checkpoint, 1 anything else. Imports nothing from tuneplan: copy it.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

TASK = "grpo"
METHODS = ("lora", "full", "qlora")  # the first is the default
REQUIRED = ("model", "data.train", "output_dir")
FORMATS = {"prompt-answer": ("prompt",)}  # `answer` too when an exact or numeric reward reads it
LIMITS = {"training.kernels": ("none", "liger")}  # narrower than the JobSpec allows


from templates.source.common import *  # noqa: F403 - `make templates` puts source/common.py here


from templates.source.ml_common import *  # noqa: F403 - `make templates` puts source/ml_common.py here
from templates.source.tracking import *  # noqa: F403 - `make templates` puts source/tracking.py here
from templates.source.outputs import *  # noqa: F403 - `make templates` puts source/outputs.py here
from templates.source.generate import *  # noqa: F403 - `make templates` puts source/generate.py here
from templates.source.causal_lm import *  # noqa: F403 - `make templates` puts source/causal_lm.py here
from templates.source.hold_out import *  # noqa: F403 - `make templates` puts source/hold_out.py here

BUILTIN_REWARDS = ("exact", "numeric", "format", "length")
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
SCORED_PROMPTS = 64  # held-out prompts answered greedily before and after training: a comparison, not a benchmark


def completion_text(completion) -> str:
    """A completion as text: TRL passes a string, or for chat prompts a list of messages."""
    if isinstance(completion, list):
        return " ".join(str(m.get("content", "")) for m in completion if isinstance(m, dict))
    return str(completion)


def final_answer(text: str) -> str:
    """What an answer says: the text of its last <answer>...</answer> when it has one, else all of it."""
    tagged = ANSWER_TAG.findall(text)
    return (tagged[-1] if tagged else text).strip()


def last_number(text: str) -> float | None:
    found = NUMBER.findall(str(text))
    try:
        return float(found[-1].replace(",", "")) if found else None
    except ValueError:
        return None


def same_text(got: str, want) -> bool:
    def norm(s) -> str:
        return " ".join(str(s).lower().split()).strip(" .")

    return norm(got) == norm(want)


def builtin_rewards(cfg: dict) -> dict:
    """The built-in reward functions, each named as the spec names it (TRL logs them by __name__)."""
    pattern = re.compile(cfg["grpo.format_regex"], re.DOTALL)
    target = cfg["grpo.length_target"] or max(cfg["grpo.max_completion_length"] // 2, 1)

    def exact(completions, answer, **_):
        return [float(same_text(final_answer(completion_text(c)), a)) for c, a in zip(completions, answer, strict=True)]

    def numeric(completions, answer, **_):
        def hit(got, want) -> bool:
            return got is not None and want is not None and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9)

        return [float(hit(last_number(final_answer(completion_text(c))), last_number(a)))
                for c, a in zip(completions, answer, strict=True)]

    def format(completions, **_):  # noqa: A001 - the spec's name for it
        return [float(pattern.search(completion_text(c)) is not None) for c in completions]

    def length(completions, completion_ids=None, **_):
        sizes = ([len(ids) for ids in completion_ids] if completion_ids is not None
                 else [len(completion_text(c).split()) for c in completions])
        return [-min(1.0, max(0, n - target) / target) for n in sizes]

    return {"exact": exact, "numeric": numeric, "format": format, "length": length}


def user_rewards(cfg: dict) -> dict:
    """The functions of grpo.reward_file that grpo.rewards names. Importing the file runs it: it is the job's own
    code, bundled with it. Any failure is a bad input, said in one line, before the model loads."""
    names = [n for n in cfg["grpo.rewards"] if n not in BUILTIN_REWARDS]
    if not names:
        return {}
    path = Path(str(cfg["grpo.reward_file"] or ""))
    if not cfg["grpo.reward_file"] or not path.is_file():
        raise BadInput(f"grpo.rewards names {names[0]!r}, which is not built in ({', '.join(BUILTIN_REWARDS)}), "
                       f"and grpo.reward_file {str(cfg['grpo.reward_file'] or '(unset)')!r} is not a file")
    spec = importlib.util.spec_from_file_location("grpo_user_rewards", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code can raise anything; it is their input, said in one line
        raise BadInput(f"grpo.reward_file {path.name}: importing it failed: {type(e).__name__}: {e}") from e
    found = {}
    for name in names:
        function = getattr(module, name, None)
        if not callable(function):
            raise BadInput(f"grpo.reward_file {path.name} defines no function {name!r}")
        found[name] = function
    return found


def reward_functions(cfg: dict) -> dict:
    """name -> function, in the order grpo.rewards lists them."""
    available = {**builtin_rewards(cfg), **user_rewards(cfg)}
    return {name: available[name] for name in cfg["grpo.rewards"]}


def load_data(cfg: dict) -> tuple[list[dict], list[dict]]:
    """Prompts (and answers) and the held-out prompts, the rewards and the batch shape checked before any ML
    import."""
    if not isinstance(cfg["grpo.rewards"], list) or not cfg["grpo.rewards"]:
        raise BadInput("grpo.rewards must be a list of reward names, e.g. [exact] or [numeric, format]")
    if not isinstance(cfg["grpo.kl_coef"], int | float) or cfg["grpo.kl_coef"] < 0:
        raise BadInput(f"grpo.kl_coef must be 0 or more, got {cfg['grpo.kl_coef']!r}")
    try:
        reward_functions(cfg)
    except re.error as e:
        raise BadInput(f"grpo.format_regex is not a regular expression: {e}") from e
    generations = cfg["grpo.num_generations"]
    answers = cfg["training.micro_batch_size"] * cfg["training.grad_accum"] * world()["world_size"]
    if generations < 2 or answers % generations:
        raise BadInput(f"training.micro_batch_size x grad_accum x processes = {answers} answers per step must be a "
                       f"multiple of grpo.num_generations = {generations} (at least 2: GRPO compares a group)")
    cfg["training.seq_len"] = cfg["grpo.max_prompt_length"] + cfg["grpo.max_completion_length"]
    columns = FORMATS["prompt-answer"] + (("answer",) if {"exact", "numeric"} & set(cfg["grpo.rewards"]) else ())
    train = read_rows(cfg["data.train"], "data.train")
    require_columns(train, columns, "data.train")
    evals = read_rows(cfg["data.eval"], "data.eval") if cfg["data.eval"] else None
    if evals is None:
        train, evals = hold_out(train, cfg["training.seed"])
    require_columns(evals, columns, "data.eval")
    return train, evals


def prompt_text(row: dict, tokenizer) -> str:
    if isinstance(row["prompt"], list):
        return tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    return str(row["prompt"])


def prompt_tokens(row: dict, tokenizer) -> int:
    return len(tokenizer(prompt_text(row, tokenizer), add_special_tokens=False)["input_ids"])


def check_data(cfg: dict, tokenizer, data: tuple) -> dict:
    if isinstance(data[0][0]["prompt"], list) and not tokenizer.chat_template:
        raise BadInput("chat-message prompts need a tokenizer with a chat template")
    lengths = [prompt_tokens(r, tokenizer) for r in data[0][:256]]
    report = length_report(lengths, cfg["grpo.max_prompt_length"], fatal=True)
    return {"format": "prompt-answer", "train_rows": len(data[0]), "eval_rows": len(data[1]),
            "rewards": list(cfg["grpo.rewards"]), **report}


def fitting(rows: list[dict], tokenizer, cfg: dict, what: str) -> list[dict]:
    """The rows whose prompt fits grpo.max_prompt_length: TRL does not cut prompts, and a longer one would make
    the step bigger than planned."""
    kept = [r for r in rows if prompt_tokens(r, tokenizer) <= cfg["grpo.max_prompt_length"]]
    if len(kept) < len(rows):
        log(f"note: {len(rows) - len(kept)} {what} prompts are longer than grpo.max_prompt_length and are left out")
    if not kept:
        raise BadInput(f"{what}: no prompt fits grpo.max_prompt_length={cfg['grpo.max_prompt_length']}")
    return kept


def score(rows: list[dict], answers: list[str], answer_ids: list[list[int]], rewards: dict) -> dict:
    """The mean of each reward, and of their sum, over ``answers`` to ``rows`` (called as TRL calls them)."""
    chat = isinstance(rows[0]["prompt"], list)
    completions = [[{"role": "assistant", "content": a}] for a in answers] if chat else list(answers)
    columns = {k: [r.get(k) for r in rows] for k in rows[0] if k != "prompt"}
    found = {name: [float(v) if v is not None else 0.0 for v in fn(
        prompts=[r["prompt"] for r in rows], completions=completions, completion_ids=answer_ids, **columns,
        trainer_state=None, log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)]
        for name, fn in rewards.items()}
    total = [sum(values) for values in zip(*found.values(), strict=True)]
    return {"reward_mean": sum(total) / len(total),
            "rewards": {name: sum(values) / len(values) for name, values in found.items()}}


def greedy_answers(model, tokenizer, rows: list[dict], cfg: dict, torch, device: str) -> tuple[list[str], list]:
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    texts, ids_list = [], []
    for row in rows:
        ids = tokenizer(prompt_text(row, tokenizer), return_tensors="pt", add_special_tokens=False).to(device)
        with torch.no_grad():
            out = model.generate(**ids, max_new_tokens=cfg["grpo.max_completion_length"], do_sample=False,
                                 pad_token_id=pad)
        new = out[0][ids["input_ids"].shape[1]:].tolist()
        texts.append(tokenizer.decode(new, skip_special_tokens=True))
        ids_list.append(new)
    return texts, ids_list


def reward_history(log_history: list[dict]) -> list[dict]:
    """What training logged of the sampled answers' rewards, step by step (mean and spread in each group)."""
    return [{"step": e["step"], "reward": e["reward"], "reward_std": e.get("reward_std")}
            for e in log_history if "reward" in e]


def train(cfg: dict, out: Path, tokenizer, data: tuple, resume: str | None, started: float, torch) -> None:
    from datasets import Dataset
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    device, bf16, fp16 = device_plan(torch, cfg["training.precision"])
    model, dtype = load_model(cfg, torch, device, bf16, fp16)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rewards = reward_functions(cfg)
    train_rows = fitting(data[0], tokenizer, cfg, "data.train")
    held = fitting(data[1], tokenizer, cfg, "data.eval")[:SCORED_PROMPTS]
    before = score(held, *greedy_answers(model, tokenizer, held, cfg, torch, device), rewards)
    # TRL counts the prompt and answer tokens itself; the Trainer's own count cannot find them and says so each step
    kwargs = {**trainer_kwargs(cfg, out, device, bf16, fp16, False), "include_num_input_tokens_seen": False}
    grpo_args = GRPOConfig(
        **kwargs, num_generations=cfg["grpo.num_generations"],
        max_completion_length=cfg["grpo.max_completion_length"], beta=float(cfg["grpo.kl_coef"]),
        temperature=cfg["grpo.temperature"], remove_unused_columns=False)
    lora = LoraConfig(**lora_kwargs(cfg), task_type="CAUSAL_LM") if "lora" in cfg["method"] else None
    progress = progress_callback()
    engine_ready(grpo_args, device, cfg)
    trainer = GRPOTrainer(model=model, reward_funcs=list(rewards.values()), args=grpo_args,
                          processing_class=tokenizer, train_dataset=Dataset.from_list(train_rows),
                          peft_config=lora, callbacks=[progress])
    result = train_and_eval(trainer, progress, resume, False)
    after = score(held, *greedy_answers(trainer.model, tokenizer, held, cfg, torch, device), rewards)
    result["eval"] = {"prompts": len(held), **after, "before": before}
    result["reward_history"] = reward_history(trainer.state.log_history)
    result["reference_model"] = trainer.ref_model is not None  # what kl_coef > 0 costs a full fine-tune
    save_final(trainer, out)
    if cfg["outputs.merge_adapter"] and "lora" in cfg["method"] and rank() == 0:
        from transformers import AutoModelForCausalLM

        texts = [prompt_text(row, tokenizer) for row in train_rows[:MERGE_CHECK_INPUTS]]
        result["merge"] = save_merged(cfg, out, tokenizer, AutoModelForCausalLM, texts, torch, dtype)
    finish(cfg, out, result, torch, device, started)


def evaluate(cfg: dict, tokenizer, data: tuple, artifacts: Path, torch, args) -> dict:  # noqa: F811 - adds rewards
    """``--evaluate``: held-out prompts answered greedily by the base model and by the trained one, side by side,
    with the rewards each set of answers earns."""
    rows, source = eval_rows(data, args)
    rows = rows[: args.eval_limit]
    # the answers are judged at the length training sampled them (the rewards were learnt for it)
    args.max_new_tokens = min(args.max_new_tokens, cfg["grpo.max_completion_length"])
    found = side_by_side(cfg, tokenizer, rows, artifacts, torch, args)
    rewards = reward_functions(cfg)

    def earned(key: str) -> dict:
        answers = [e[key] for e in found["examples"]]
        return score(rows, answers, [tokenizer(a, add_special_tokens=False)["input_ids"] for a in answers], rewards)

    return {"source": source, **found, "metrics": {"base": earned("base"), "tuned": earned("tuned")}}


if __name__ == "__main__":
    run(main)
