"""Prompt + response as one token sequence (rayrlhf/core/encoding.py): each truncation side by hand."""

import pytest

from rayrlhf.core.encoding import prompt_response_ids, truncate


def test_each_side_cuts_where_it_says():
    ids, start = list(range(10)), 6  # prompt 0-5, response 6-9
    assert truncate(ids, start, 12, "left") == (ids, 6)
    assert truncate(ids, start, 7, "left") == ([3, 4, 5, 6, 7, 8, 9], 3)
    assert truncate(ids, start, 3, "left") == ([7, 8, 9], 0)  # the response's end is kept
    assert truncate(ids, start, 7, "right") == ([0, 1, 2, 3, 4, 5, 6], 6)
    assert truncate(ids, start, 4, "right") == ([0, 1, 2, 3], 4)  # no response left
    assert truncate(ids, start, 7, "context") == ([3, 4, 5, 6, 7, 8, 9], 3)
    assert truncate(ids, start, 3, "context") == ([6, 7, 8], 0)  # the context goes first, then the response's end
    with pytest.raises(ValueError, match="truncation side"):
        truncate(ids, start, 3, "middle")


def test_prompt_then_response_then_eos():
    class Words:  # a tokenizer: one id per word, BOS 1 with special tokens, EOS 2
        eos_token_id = 2

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": ([1] if add_special_tokens else []) + [10 + len(w) for w in text.split()]}

    assert prompt_response_ids(Words(), "a bb", "ccc", 16, "left") == ([1, 11, 12, 13, 2], 3)
    assert prompt_response_ids(Words(), "a bb", "ccc", 3, "left") == ([12, 13, 2], 1)
