"""The one chat template, shared by fine-tuning, `gristmill generate --chat` and the Hugging Face export.

A conversation is rendered as, per message, its role marker, its content, then `<|end|>`:

    <|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|>

The markers are special tokens reserved by `gristmill tokenizer train` and are inserted as ids; the
content is encoded with special-token matching off, so a message that contains the literal text
`<|end|>` (or `<|endoftext|>`) gets ordinary byte tokens. A prompt for a reply ends with
`<|assistant|>`; the model's reply ends when it emits `<|end|>`. Fine-tuning trains on the tokens
of assistant messages and their closing `<|end|>` only.
"""

from __future__ import annotations

from tokenizers import Tokenizer

from gristmill.errors import GristmillError
from tokenizer.saved import CHAT_TOKENS

ROLES = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END = "<|end|>"
assert set(ROLES.values()) | {END} == set(CHAT_TOKENS)

# The same rendering as Jinja, for `tokenizer_config.json` (transformers' apply_chat_template, vLLM).
JINJA = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


class ChatTemplate:
    def __init__(self, tok: Tokenizer):
        ids = {token: tok.token_to_id(token) for token in CHAT_TOKENS}
        missing = [token for token, i in ids.items() if i is None]
        if missing:
            raise GristmillError(
                f"the tokenizer reserves no chat tokens ({', '.join(missing)} missing); "
                "retrain it with this version of `gristmill tokenizer train`, which reserves them"
            )
        tok.encode_special_tokens = True  # message text never turns into a marker
        self.tok = tok
        self.role_ids = {role: ids[token] for role, token in ROLES.items()}
        self.end_id = ids[END]

    def render(self, messages: list[dict], add_generation_prompt: bool = False) -> tuple[list[int], list[bool]]:
        """Token ids of the conversation and, per id, whether it is trained on (assistant content and its `<|end|>`)."""
        ids: list[int] = []
        trained: list[bool] = []
        for message in messages:
            content = self.tok.encode(message["content"]).ids
            ids += [self.role_ids[message["role"]], *content, self.end_id]
            trained += [False] + [message["role"] == "assistant"] * (len(content) + 1)
        if add_generation_prompt:
            ids.append(self.role_ids["assistant"])
            trained.append(False)
        return ids, trained
