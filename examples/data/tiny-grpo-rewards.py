"""Reward functions of examples/tiny-grpo.yaml, named in its grpo.rewards and bundled with the job.

A reward function is called as TRL calls them: keyword arguments prompts, completions (strings, or for chat
prompts lists of messages), completion_ids, and every other column of the data by its name (here: answer).
It returns one float per completion (None: this reward does not apply to that row).
"""


def sound_letters(completions, answer, **kwargs):
    """Partial credit: the share of the answer's characters that are letters of the expected sound."""
    rewards = []
    for completion, sound in zip(completions, answer, strict=True):
        text = completion if isinstance(completion, str) else " ".join(m["content"] for m in completion)
        chars = [c for c in text if not c.isspace()]
        rewards.append(sum(c in set(sound) for c in chars) / len(chars) if chars else 0.0)
    return rewards
