"""Customers' names for the demo, in each demo language, drawn from the customer number alone
(a hash, no random stream), so adding names changed no other demo value."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cxlens.demo import _sampling as draw

#: Given names and family names per demo language (common ones; invented combinations).
_GIVEN = {
    "en": (
        "Emma",
        "Olivia",
        "Ava",
        "Mia",
        "Grace",
        "Liam",
        "Noah",
        "James",
        "Henry",
        "Oliver",
        "Sophie",
        "Jack",
    ),
    "zh": ("伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "婷"),
    "ja": ("美咲", "陽菜", "結衣", "さくら", "葵", "翔太", "大翔", "蓮", "悠真", "拓海", "健太", "愛"),
    "ko": ("민준", "서연", "지우", "하은", "도윤", "서준", "지민", "수아", "예준", "하준", "지아", "유진"),
    "ru": ("Анна", "Мария", "Елена", "Ольга", "Дарья", "Иван", "Алексей", "Дмитрий", "Сергей", "Павел"),
    "pt": ("Ana", "Beatriz", "Mariana", "Juliana", "Lucas", "Gabriel", "Pedro", "Rafael", "João", "Carla"),
}
_FAMILY = {
    "en": ("Smith", "Johnson", "Brown", "Taylor", "Wilson", "Davies", "Evans", "Walker", "Hughes", "Clarke"),
    "zh": ("王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"),
    "ja": ("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"),
    "ko": ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"),
    "ru": ("Иванов", "Смирнов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков"),
    "pt": ("Silva", "Santos", "Oliveira", "Souza", "Pereira", "Costa", "Rodrigues", "Almeida", "Lima"),
}
#: Russian family names take the feminine ending for these given names.
_RU_FEMININE = {"Анна", "Мария", "Елена", "Ольга", "Дарья"}


def _full(lang: str, given: str, family: str) -> str:
    if lang in ("zh", "ko"):
        return family + given
    if lang == "ja":
        return f"{family} {given}"
    if lang == "ru" and given in _RU_FEMININE:
        family += "а"
    return f"{given} {family}"


def customer_names(numbers: np.ndarray, languages: np.ndarray, codes: tuple[str, ...]) -> pa.Array:
    """A name for each customer number, in the customer's language (``codes[languages[i]]``;
    languages without a list get English names)."""
    key = draw.mix64(numbers.astype(np.uint64), 0x6E616D65)
    out = np.empty(len(key), dtype=object)
    for code, name in enumerate(codes):
        rows = np.flatnonzero(languages == code)
        if not len(rows):
            continue
        lang = name if name in _GIVEN else "en"
        given, family = _GIVEN[lang], _FAMILY[lang]
        table = np.array([_full(lang, g, f) for g in given for f in family], dtype=object)
        k = key[rows]
        pick = (k % np.uint64(len(given))) * np.uint64(len(family)) + (k >> np.uint64(20)) % np.uint64(
            len(family)
        )
        out[rows] = table[pick.astype(np.int64)]
    return pa.array(out, type=pa.string())
