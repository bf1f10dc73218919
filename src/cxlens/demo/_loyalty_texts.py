"""What the demo's members write about their points, per language (codes of ``texts.LANGUAGES``).

Each sentence names the points in the words the retail taxonomy's ``loyalty_programme / points``
aspect looks for (points, 积分, ポイント, 포인트, балл, pontos), so text analytics find them.
"""

from __future__ import annotations

import numpy as np

from cxlens.demo.texts import LANGUAGES

# POINTS[language] = (positive sentences, negative sentences about points expiring)
POINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        (
            "Paying with my points at the till was quick and easy.",
            "I love collecting points, the rewards are worth it.",
            "My points were added straight away after shopping.",
        ),
        (
            "My points expired without any warning and I lost almost everything I had saved.",
            "All my loyalty points are gone, nobody told me they would expire.",
            "I was saving points for months and now they have simply expired, very disappointing.",
        ),
    ),
    "zh": (
        (
            "结账时用积分抵扣很方便。",
            "积分兑换的礼品很实用，值得攒。",
            "购物后积分马上就到账了。",
        ),
        (
            "我的积分没有任何提醒就过期了，攒了一年全没了。",
            "积分突然清零，也没人通知我会过期。",
            "辛辛苦苦攒的积分就这样作废了，太失望了。",
        ),
    ),
    "ja": (
        (
            "レジでポイントを使えてとても便利でした。",
            "ポイントが貯まりやすくて嬉しいです。",
            "買い物の後すぐにポイントが付与されました。",
        ),
        (
            "貯めていたポイントが何の連絡もなく失効しました。",
            "ポイントの有効期限を知らされず、全部消えてしまいました。",
            "何か月もかけて貯めたポイントが失効して本当に残念です。",
        ),
    ),
    "ko": (
        (
            "계산할 때 포인트로 결제할 수 있어서 편했어요.",
            "포인트 적립이 잘 돼서 만족합니다.",
            "구매 후 바로 포인트가 적립됐어요.",
        ),
        (
            "모아 둔 포인트가 아무 안내 없이 소멸됐어요.",
            "포인트 유효기간을 알려주지 않아서 전부 사라졌습니다.",
            "몇 달 동안 모은 포인트가 그냥 소멸돼서 너무 실망했어요.",
        ),
    ),
    "ru": (
        (
            "Удобно, что баллы можно списать прямо на кассе.",
            "Бонусные баллы копятся быстро, это приятно.",
            "Баллы начислили сразу после покупки.",
        ),
        (
            "Мои баллы сгорели без всякого предупреждения.",
            "Все накопленные баллы пропали, никто не сказал, что у них есть срок.",
            "Копил баллы несколько месяцев, а они просто сгорели, очень обидно.",
        ),
    ),
    "pt": (
        (
            "Foi fácil usar os meus pontos no caixa.",
            "Adoro juntar pontos, as recompensas valem a pena.",
            "Os pontos entraram logo depois da compra.",
        ),
        (
            "Os meus pontos expiraram sem nenhum aviso e perdi quase tudo.",
            "Todos os meus pontos sumiram, ninguém avisou que iam expirar.",
            "Juntei pontos durante meses e agora simplesmente expiraram, que decepção.",
        ),
    ),
}

_TABLE = np.array([[list(POINTS[lang][pol]) for pol in (0, 1)] for lang in LANGUAGES], dtype=object)


def points_sentences(rng: np.random.Generator, lang: np.ndarray, negative: np.ndarray) -> np.ndarray:
    """One sentence about points per row, in the row's language (codes of ``texts.LANGUAGES``)."""
    variant = rng.integers(0, _TABLE.shape[2], len(lang))
    out: np.ndarray = _TABLE[lang, negative.astype(np.int64), variant]
    return out
