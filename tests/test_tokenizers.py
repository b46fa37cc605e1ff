import json

import pytest
import torch

from mdm.errors import DataError
from mdm.tasks.text import kjv_text
from mdm.tokenizers import (
    ByteTokenizer,
    CharTokenizer,
    GPT2Tokenizer,
    HFTokenizer,
    get_tokenizer,
    tokenizer_from_dict,
)

SAMPLE = "In the beginning God created the heaven and the earth.\nÆnon — naïve café ☃"


@pytest.fixture(scope="module")
def gpt2():
    return GPT2Tokenizer()


@pytest.fixture(scope="module")
def kjv_slice():
    return kjv_text()[:20000]


def _specials_are_real_entries(tok):
    ids = {tok.mask_id, tok.pad_id, tok.eos_id}
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert len({tok.mask_id, tok.pad_id}) == 2 and tok.eos_id != tok.mask_id


def test_byte_roundtrip_and_layout():
    tok = ByteTokenizer()
    ids = tok.encode(SAMPLE)
    assert ids == list(SAMPLE.encode("utf-8"))  # ids 0..255 are the bytes themselves
    assert tok.decode(ids) == SAMPLE
    assert tok.vocab_size == 260 and tok.mask_id == 259
    _specials_are_real_entries(tok)
    assert tok.decode([72, tok.mask_id, 105], skip_special=False) == "H<mask>i"
    assert tok.decode(torch.tensor([72, tok.mask_id, 105])) == "Hi"


def test_char_roundtrip_unknown_and_dict():
    tok = CharTokenizer.from_text(SAMPLE)
    assert tok.decode(tok.encode(SAMPLE)) == SAMPLE
    assert tok.vocab_size == len(set(SAMPLE)) + 5
    _specials_are_real_entries(tok)
    assert tok.encode("Z") == [tok.unk_id]  # 'Z' is not in the alphabet
    assert tok.decode([tok.unk_id], skip_special=False) == "<unk>"
    again = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert again == tok and again.encode(SAMPLE) == tok.encode(SAMPLE)


def test_gpt2_matches_reference_ids_and_roundtrips_kjv(gpt2, kjv_slice):
    # Reference ids of GPT-2's BPE (as printed by OpenAI's encoder for these words).
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.eos_id == 50256
    assert (gpt2.pad_id, gpt2.mask_id, gpt2.vocab_size) == (50257, 50258, 50259)
    ids = gpt2.encode(kjv_slice)
    assert max(ids) < 50257  # ordinary text never produces the added special tokens
    assert gpt2.decode(ids) == kjv_slice
    assert len(ids) < len(kjv_slice) / 3  # BPE compresses English text
    assert gpt2.decode(gpt2.encode(SAMPLE)) == SAMPLE
    assert gpt2.decode([15496, gpt2.mask_id, 995], skip_special=False) == "Hello<mask> world"
    head = gpt2.encode(kjv_slice[:500])
    assert tokenizer_from_dict(gpt2.to_dict()).encode(kjv_slice[:500]) == head == ids[: len(head)]


def test_hf_tokenizer_file_roundtrip(tmp_path, gpt2, kjv_slice):
    from tokenizers import ByteLevelBPETokenizer

    from mdm.tokenizers import _gpt2_data_dir

    # A plain tokenizer.json without <pad>/<mask>: HFTokenizer must add them as real entries.
    data = _gpt2_data_dir()
    bpe = ByteLevelBPETokenizer(str(data / "encoder.json"), str(data / "vocab.bpe"))
    path = tmp_path / "tokenizer.json"
    bpe.save(str(path))
    tok = get_tokenizer(str(path))
    assert isinstance(tok, HFTokenizer)
    text = kjv_slice[:3000]
    assert tok.encode(text) == gpt2.encode(text)
    assert (tok.mask_id, tok.pad_id, tok.eos_id) == (gpt2.mask_id, gpt2.pad_id, gpt2.eos_id)
    restored = tokenizer_from_dict(json.loads(json.dumps(tok.to_dict())))
    assert restored.decode(restored.encode(text)) == text


def test_get_tokenizer_specs_and_errors():
    assert isinstance(get_tokenizer("byte"), ByteTokenizer)
    assert get_tokenizer("char", text="abc").alphabet == "abc"
    tok = ByteTokenizer()
    assert get_tokenizer(tok) is tok
    assert get_tokenizer({"kind": "char", "alphabet": "xy"}).alphabet == "xy"
    with pytest.raises(DataError, match="text="):
        get_tokenizer("char")
    with pytest.raises(DataError, match="unknown tokenizer"):
        get_tokenizer("wordpiece")
    with pytest.raises(DataError, match="does not exist"):
        get_tokenizer("/nonexistent/tokenizer.json")
    with pytest.raises(DataError, match="unknown tokenizer kind"):
        tokenizer_from_dict({"kind": "nope"})
    with pytest.raises(DataError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(DataError, match="repeated"):
        CharTokenizer("aa")
