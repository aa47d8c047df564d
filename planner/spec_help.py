"""What each job spec field means, in one or two sentences: the prose of the spec reference
(``tuneplan spec reference``, docs/spec-reference.md) and of the JSON Schema's descriptions (editor hovers).

Why a table beside the model rather than a docstring per field: ``planner.spec`` holds the rules (types, bounds,
checks) and stays readable; the words live here, keyed by the dotted path people write. A test fails when a field
has no words, so the reference can never skip one. Types, defaults and bounds are read from the model itself.
"""

from __future__ import annotations

FIELDS: dict[str, str] = {
    "name": "The job's name; run ids start with it (`tiny-sft-20261204-113512-ef1b`).",
    "project": "The team's grouping for budgets and reports (`report --by project`).",
    "owner": "Who launched it (default: your login name); budgets and reports group by it.",
    "task": "What is trained: `sft` (chat/instruction), `dpo` (preferences), `classify` (text → label), `embed` "
            "(sentence embeddings), `ner` (a BIO tag per word: named entities), `reward` (a reward model from "
            "preference pairs), `rerank` (a cross-encoder that scores query-passage pairs), `grpo` (reinforcement "
            "learning with verifiable rewards: sampled answers scored by reward functions), or `smoke` (no model: "
            "checks a launcher for cents).",
    "model": "A Hugging Face model id (`Qwen/Qwen2.5-7B-Instruct`), a local folder, or `tiny:llama` / `tiny:bert` / "
             "`tiny:minilm` (made here, for trying things). `tuneplan models` lists the bundled catalog.",
    "method": "`lora` (adapters on a frozen base), `qlora` (adapters on a 4-bit base), `full` (every weight), or "
              "`spectrum` (the highest-signal layers only).",
    "quantization": "How the frozen base is stored: `none`, `int8`, `nf4` (qlora's default) or `gptq4`.",
    "lora.r": "The adapters' rank: more is more capacity and memory.",
    "lora.alpha": "LoRA's scale (alpha / r multiplies the adapters' output).",
    "lora.dropout": "Dropout on the adapters' input while training.",
    "lora.targets": "Which modules get adapters: `all-linear`, or module names (`q_proj,v_proj`).",
    "spectrum.top_fraction": "With `method: spectrum`: the share of layers trained, chosen by signal-to-noise.",
    "data.train": "The training rows: a local `.jsonl`/`.json`/`.csv`/`.parquet` file (relative to the spec) or "
                  "`hub:org/name[:split]`. Its format is below.",
    "data.eval": "Held-out rows in the same format (classify and embed hold out 10 % of the train rows without it).",
    "data.format": "The rows' shape (default: the task's natural one, or guessed from the columns); see Data formats.",
    "data.examples": "How many rows, for planning when the file is not here (default: counted from the file).",
    "data.avg_tokens": "Mean tokens per row, for planning (default: measured by `tuneplan data inspect`, else 512).",
    "training.epochs": "Passes over the training rows.",
    "training.seq_len": "The longest sequence in tokens; longer rows are cut (`data inspect` counts how many).",
    "training.micro_batch_size": "Rows per GPU per step.",
    "training.grad_accum": "Steps whose gradients add up before one optimizer update.",
    "training.learning_rate": "The peak learning rate.",
    "training.grad_ckpt": "Gradient checkpointing: recompute activations in the backward pass to save memory.",
    "training.attn": "Attention kernel: `sdpa` (PyTorch's), `flash` (FlashAttention 2) or `eager`.",
    "training.optimizer": "The optimizer; the 8-bit and paged ones keep less state in GPU memory.",
    "training.precision": "`bf16` (bf16 weights), `bf16-mixed` (fp32 master weights + bf16 autocast), `fp16` or "
                          "`fp32`.",
    "training.packing": "Pack several short rows into one sequence (sft).",
    "training.kernels": "Fused kernels: `none`, `liger` or `unsloth` (they lower activation memory).",
    "training.stack": "Whose training code the estimate is for: `tuneplan` (the bundled templates) or the stack your "
                      "team runs (`axolotl`, `llama-factory`, `unsloth`, `torchtune`, `litgpt`, `hf-legacy`).",
    "training.max_steps": "Stop after this many optimizer steps (overrides epochs).",
    "training.logging_steps": "Log the loss every N steps (default: the Trainer's).",
    "training.save_steps": "Checkpoint every N steps; a stopped run resumes from the last one.",
    "training.eval_steps": "Evaluate on data.eval every N steps.",
    "training.warmup_ratio": "The share of steps the learning rate warms up over (default 0.03 in the templates).",
    "training.seed": "The random seed (default 42 in the templates): the same seed, the same head and held-out rows.",
    "resources.provider": "Where it runs: `auto` (the top-ranked option that fits), `local`, `skypilot`, `modal` or "
                          "`runpod`.",
    "resources.gpu": "A GPU name (`L4`, `A100-80GB`, `H100`), a list of acceptable ones in order, or `auto`.",
    "resources.gpus": "GPUs per machine.",
    "resources.nodes": "Machines in one torch.distributed run (each with `gpus` GPUs).",
    "resources.sharding": "How several processes split the work: `ddp` (a full copy each), `fsdp` (FSDP2), `zero2` or "
                          "`zero3` (DeepSpeed). Required with more than one process.",
    "resources.cpu_processes": "Local runs without a GPU: this many CPU processes over gloo, a rehearsal of a "
                               "distributed run.",
    "resources.spot": "Use interruptible (spot) machines: cheaper, may be preempted (the run resumes from its last "
                      "checkpoint where the launcher can).",
    "resources.image": "A prebuilt container image with the training stack installed: rented machines start from it "
                       "and install nothing.",
    "resources.max_usd_per_hour": "Refuse offers dearer than this per hour.",
    "resources.max_total_usd": "The run's budget: a launch whose estimate exceeds it is refused, and a running job "
                               "is stopped (checkpoint kept) when its cost reaches it.",
    "resources.deadline_hours": "Rank only options that finish within this many hours.",
    "secrets": "Names of environment variables the job needs (`HF_TOKEN`); values travel by name to the provider's "
               "secret store, never in the bundle or the ledger.",
    "outputs.merge_adapter": "Also save the base with the adapter merged in (LoRA).",
    "outputs.push_to_hub": "Push the pulled, verified outputs to this Hub repo (`org/name`).",
    "grpo.rewards": "With `task: grpo`: the reward functions, summed: built in `exact` (the answer, or the text of its "
                    "last <answer>…</answer>, equals the `answer` column, case and spacing aside), `numeric` (its last "
                    "number equals the answer's), `format` (grpo.format_regex matches), `length` (a penalty past "
                    "grpo.length_target tokens), or the name of a function in grpo.reward_file.",
    "grpo.reward_file": "With `task: grpo`: a Python file of your own reward functions (relative to the spec; it "
                        "travels with the job). Each is called as TRL calls them: `f(prompts=, completions=, "
                        "completion_ids=, <column>=, **kwargs)` and returns one float per completion.",
    "grpo.num_generations": "With `task: grpo`: answers sampled per prompt and compared with each other. "
                            "micro_batch_size × grad_accum × GPUs must be a multiple of it.",
    "grpo.max_prompt_length": "With `task: grpo`: the longest prompt in tokens; longer ones are left out, with a note.",
    "grpo.max_completion_length": "With `task: grpo`: the longest generated answer in tokens. The planner prices "
                                  "every answer at this length (generation is the slow part).",
    "grpo.kl_coef": "With `task: grpo`: the KL penalty towards the starting model. 0 loads no reference model; above 0 "
                    "a full fine-tune holds a frozen copy (LoRA: the adapter switched off), and every step runs its "
                    "forward.",
    "grpo.temperature": "With `task: grpo`: the sampling temperature of the answers.",
    "grpo.format_regex": "With `task: grpo`: what the `format` reward looks for in an answer (Python regex, searched; "
                         "anchor it with ^ and $). The default is DeepSeek-R1's <think>…</think><answer>…</answer>.",
    "grpo.length_target": "With `task: grpo`: answers longer than this many tokens lose reward under `length`, down to "
                          "-1 at twice it (default: half of grpo.max_completion_length).",
    "smoke.step_seconds": "With `task: smoke`: how long each fake step lasts.",
    "smoke.fail_at": "With `task: smoke`: fail on purpose at this step (to see a failure end to end).",
    "tracking.backend": "Experiment tracking through the Trainer's own integrations: `mlflow`, `wandb` or `none`.",
    "tracking.project": "The W&B project or MLflow experiment (default: the job's name).",
    "tracking.run_name": "The tracked run's name (default: the job's name).",
    "tracking.uri": "MLflow's tracking server (default: a SQLite store in the run's outputs, brought home); "
                    "credentials go in `secrets`, never here.",
    "sweep": "Several runs from this spec: `{training.learning_rate: [1e-4, 2e-4], lora.r: [8, 16]}` runs every "
             "combination (`launch` shows one plan and total; `sweep show ID` compares them).",
    "tags": "Finance's groupings beyond project and owner (`cost_center: ml-research`), usable in `report --by "
            "tag:KEY` and the FOCUS export.",
}

# Data formats: (columns of a row, one example row, the tasks that read it)
FORMATS: dict[str, tuple[str, str, str]] = {
    "chat": ("messages: a list of {role, content} (system, user, assistant)",
             '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}', "sft"),
    "prompt-completion": ("prompt, completion (text, or lists of chat messages)",
                          '{"prompt": "2+2=", "completion": "4"}', "sft"),
    "text": ("text", '{"text": "A plain document to continue."}', "sft"),
    "preference": ("prompt, chosen, rejected", '{"prompt": "Say hi", "chosen": "Hello!", "rejected": "Go away."}',
                   "dpo, reward"),
    "text-label": ("text, label (any strings or numbers)", '{"text": "My card was charged twice", "label": "billing"}',
                   "classify"),
    "pairs": ("anchor, positive (and an optional score in [-1, 1])",
              '{"anchor": "reset my password", "positive": "How to change your password"}', "embed"),
    "tokens-tags": ("tokens (a list of words), tags (one BIO tag per word: O, B-TYPE, I-TYPE)",
                    '{"tokens": ["Ada", "joined", "Acme", "Corp"], "tags": ["B-PER", "O", "B-ORG", "I-ORG"]}', "ner"),
    "query-passage": ("query, passage, label (1 relevant, 0 not: the hard negatives; or a score in [0, 1])",
                      '{"query": "reset my password", "passage": "Go to Settings, then Security.", "label": 1}',
                      "rerank"),
    "prompt-answer": ("prompt (a string or chat messages), answer (what the exact and numeric rewards check); "
                      "any other column reaches the reward functions by name",
                      '{"prompt": "What is 6 x 7? Answer in <answer></answer>.", "answer": "42"}', "grpo"),
    "triplets": ("anchor, positive, negative",
                 '{"anchor": "reset password", "positive": "Change your password", "negative": "Delete account"}',
                 "embed"),
}
