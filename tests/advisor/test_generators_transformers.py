"""The transformers backend on a tiny random-weight Qwen2 model built here, offline.

The tokenizer is a byte-level BPE trained in the test and given a Qwen-style chat template; model and
tokenizer are saved to a folder and loaded back through the backend's real from_pretrained path, so
generation, streaming, stopping and quantisation all run for real (only the weights are random).
"""

from __future__ import annotations

import threading
import time

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from advisor.backends import GenerationError  # noqa: E402
from advisor.backends.hf_transformers import TransformersGenerator, quantization_config  # noqa: E402
from advisor.generate import make_generator  # noqa: E402

QWEN_STYLE_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
MESSAGES = [
    {"role": "system", "content": "只依据资料回答。Answer only from the sources."},
    {"role": "user", "content": "What pricing strategies can an AI startup use? 定价策略有哪些？"},
]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = [
        "常见的定价策略包括成本导向定价、价值导向定价、竞争导向定价和组合定价。",
        "What pricing strategies can an AI startup use? Cost-based, value-based and competitive pricing.",
        "Answer only from the numbered sources and cite them like [1] or [2].",
    ] * 10
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(corpus, trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN_STYLE_TEMPLATE,
    )
    # hidden_size 128: bitsandbytes' 4-bit blocks need rows of at least 64 values.
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    with torch.no_grad():  # larger random weights: varied tokens instead of one repeated argmax
        for param in model.parameters():
            param.normal_(0.0, 0.5)
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    tokenizer.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    return TransformersGenerator(tiny_model_dir, quantization="none", device="cpu", context_tokens=256)


def test_streams_exactly_what_greedy_generate_produces(generator):
    pieces = list(generator.stream(MESSAGES, max_new_tokens=24, temperature=0.0))
    tok, model = generator.tokenizer, generator.model
    ids = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(
            **ids,
            max_new_tokens=24,
            do_sample=False,
            repetition_penalty=generator.repeat_penalty,
            pad_token_id=tok.pad_token_id,
        )
    expected = tok.decode(out[0, ids["input_ids"].shape[-1] :], skip_special_tokens=True)
    assert len(pieces) > 1 and "".join(pieces) == expected
    stats = generator.last_stats
    assert stats.prompt_tokens == ids["input_ids"].shape[-1]  # the chat template was applied
    assert stats.new_tokens == out.shape[-1] - ids["input_ids"].shape[-1]
    assert stats.device == "cpu" and stats.quantization == "float32" and not stats.stopped
    assert generator.last_usage["completion_tokens"] == stats.new_tokens


@pytest.fixture
def slow_steps(generator):
    """30 ms per decoding step, so the consumer keeps up and "stops promptly" has a measurable meaning."""
    handle = generator.model.register_forward_hook(lambda *args: time.sleep(0.03))
    yield
    handle.remove()


def test_stop_event_stops_generation_within_a_few_tokens(generator, slow_steps):
    stop = threading.Event()
    pieces = []
    for piece in generator.stream(MESSAGES, max_new_tokens=200, temperature=0.0, stop_event=stop):
        pieces.append(piece)
        if len(pieces) == 3:
            stop.set()
    assert generator.last_stats.stopped
    assert generator.last_stats.new_tokens <= 20  # not 200 (a piece can hold a few tokens)
    assert generator.last_stats.total_s < 3.0


def test_closing_the_iterator_stops_generation(generator, slow_steps):
    stream = generator.stream(MESSAGES, max_new_tokens=200, temperature=0.0)
    next(stream)
    stream.close()
    assert generator.last_stats.stopped and generator.last_stats.new_tokens < 200
    # The lock is free again: a new answer starts at once.
    assert list(generator.stream(MESSAGES, max_new_tokens=3, temperature=0.0))


def test_sampling_with_temperature_runs(generator):
    torch.manual_seed(1)
    assert list(generator.stream(MESSAGES, max_new_tokens=5, temperature=0.8))


def test_a_prompt_longer_than_the_context_is_a_clear_error(generator):
    with pytest.raises(GenerationError, match="256-token context"):
        list(generator.stream([{"role": "user", "content": "pricing " * 400}], 10, 0.0))


def test_first_token_logprobs_are_a_distribution_head(generator):
    top = generator.first_token_logprobs(MESSAGES, top_n=5)
    assert 1 <= len(top) <= 5 and all(v <= 0 for v in top.values())
    assert sum(torch.tensor(list(top.values())).exp()) <= 1.0 + 1e-5


def test_make_generator_builds_it_from_settings(tiny_model_dir, test_settings):
    settings = test_settings.model_copy(
        update={"llm_backend": "transformers", "llm_model": str(tiny_model_dir), "device": "cpu"}
    )
    gen = make_generator(settings)
    assert isinstance(gen, TransformersGenerator) and gen.model_id == str(tiny_model_dir)
    assert gen.describe()["quantization"] == "float32"


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(GenerationError, match="could not load"):
        TransformersGenerator(tmp_path / "absent", device="cpu")


def test_quantization_configs():
    assert quantization_config("none", torch.float32) is None
    nf4 = quantization_config("nf4", torch.bfloat16)
    assert nf4.load_in_4bit and nf4.bnb_4bit_quant_type == "nf4" and nf4.bnb_4bit_use_double_quant
    assert nf4.bnb_4bit_compute_dtype == torch.bfloat16
    int8 = quantization_config("int8", torch.bfloat16)
    assert int8.load_in_8bit and not int8.load_in_4bit
    with pytest.raises(GenerationError, match="none, nf4 or int8"):
        quantization_config("fp3", torch.float32)


@pytest.mark.parametrize(("quantization", "layer_class"), [("nf4", "Linear4bit"), ("int8", "Linear8bitLt")])
def test_bitsandbytes_quantised_model_generates_on_cpu(tiny_model_dir, quantization, layer_class):
    """bitsandbytes >= 0.45 has CPU kernels: the quantised tiny model really loads and generates here."""
    pytest.importorskip("bitsandbytes")
    gen = TransformersGenerator(tiny_model_dir, quantization=quantization, device="cpu")
    proj = gen.model.model.layers[0].self_attn.q_proj
    assert type(proj).__name__ == layer_class
    assert list(gen.stream(MESSAGES, max_new_tokens=6, temperature=0.0))
    assert gen.last_stats.quantization == quantization and gen.last_stats.new_tokens >= 1


@pytest.mark.gpu
def test_nf4_on_cuda_uses_bf16_compute(tiny_model_dir):
    gen = TransformersGenerator(tiny_model_dir, quantization="nf4", device="cuda")
    assert gen.device == "cuda" and gen.model.dtype == torch.bfloat16
    assert list(gen.stream(MESSAGES, max_new_tokens=6, temperature=0.0))


def test_an_english_answer_suppresses_every_cjk_token(generator):
    from textkit import CJK_SCRIPT

    masked = generator.cjk_token_ids()
    assert masked  # the tiny vocabulary was trained on Chinese text too
    messages = [{"role": "user", "content": "常见的定价策略包括成本导向定价、价值导向定价"}]
    # These random weights (seed 0) write Chinese when left alone: that makes the check below mean
    # something. With the mask, no CJK token can be sampled, so the English answer has none.
    free = "".join(generator.stream(messages, max_new_tokens=48, temperature=0.0))
    english = "".join(generator.stream(messages, max_new_tokens=48, temperature=0.0, language="en"))
    assert CJK_SCRIPT.search(free), f"the unmasked model wrote no CJK, so the mask is not tested: {free!r}"
    assert english.strip() and not CJK_SCRIPT.search(english), english
