#!/usr/bin/env python3
"""Writes tests/data/tokenizer_strings.json: varied strings for the tokenizer cross-check (deterministic)."""
import json
import os
import random

rng = random.Random(20261122)
fixed = [
    "", " ", "  ", "\n", "\t", "Hello world", "Hello  world", "  leading spaces", "trailing spaces   ",
    "tabs\tand\ttabs", "new\nline", "windows\r\nline", "multiple\n\n\nnewlines", "mixed \t\n whitespace",
    "12345", "3.14159", "1,000,000", "2026-11-22", "0x1F600", "9999999999999999", "a1b2c3", "v1.2.3-rc4",
    "it's", "don't", "we're", "they've", "I'm", "you'll", "he'd", "IT'S LOUD", "O'Neil's",
    "Hello, world!", "What?!", "(parentheses) [brackets] {braces}", "a+b=c; d*e/f", "email@example.com",
    "https://example.com/path?q=1&r=2", "#hashtag @mention", "$100.00 or €85,50 or ¥1000", "50% off!!!",
    "café", "naïve", "résumé", "Ångström", "Straße", "Ελληνικά", "Русский текст", "עברית", "العربية",
    "日本語のテキスト", "中文字符测试", "한국어 텍스트", "ไทย", "हिन्दी", "emoji 😀🎉👍", "flags 🇫🇷🇯🇵",
    "family 👨‍👩‍👧", "math ∑∫√∞≠≤", "arrows ←↑→↓", "box ┌─┐│└┘", "music ♪♫", "©®™",
    "def f(x):\n    return x * 2\n", "int main() { return 0; }", "for (i = 0; i < n; ++i) {}",
    "SELECT * FROM t WHERE a = 'b';", "<html><body>hi</body></html>", "{\"key\": [1, 2, 3]}",
    "<s>", "</s>", "<unk>", "<s> hello </s>", "text<s>glued</s>text", "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>",
    "<|begin_of_text|>Hello", "a<|end_of_text|>b", "<|im_start|>", "<s><s><s>", "  <s>  ",
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG", "the quick brown fox jumps over the lazy dog",
    "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "ababababababababab", "...", "---", "___", "!!!???", "      ", "\u00a0non-breaking\u00a0space",
    "zero\u200bwidth", "x" * 120, "word " * 30,
]
pieces = ["the", "The", " of", "and", "123", "4567", "'s", "é", "日本", "😀", " ", "  ", "\n", "\t", ",", ".",
          "<s>", "</s>", "<|endoftext|>", "ing", "un", "Qwen", "Llama", "-", "_", "©", "ß", "Ω", "42", "x"]
generated = set()
while len(generated) < 150:
    text = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
    generated.add(text)
strings = fixed + sorted(generated)
out = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "tokenizer_strings.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(strings, f, ensure_ascii=False, indent=0)
print(len(strings), "strings")
