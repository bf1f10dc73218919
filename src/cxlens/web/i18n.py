"""The form's own texts (buttons, scale labels, error messages) per locale, and locale choice."""

from __future__ import annotations

from cxlens.collect.surveys import LOCALES, RTL_LOCALES, Survey

LANGUAGE_NAMES = {
    "en": "English",
    "zh": "中文",
    "ja": "日本語",
    "ko": "한국어",
    "ru": "Русский",
    "pt": "Português",
}

_KEYS = (
    "language",
    "next",
    "submit",
    "optional",
    "errors_title",
    "required",
    "out_of_range",
    "not_a_number",
    "invalid_choice",
    "one_value",
    "too_long",
    "stale_page",
    "thanks",
    "already_answered",
    "unknown_token",
    "expired",
    "unknown_response",
    "unknown_survey",
    "bad_context",
    "too_many",
    "low_nps",
    "high_nps",
    "low_csat",
    "high_csat",
    "low_ces",
    "high_ces",
    "low_rating",
    "high_rating",
    "restart",
    "page_of",
    "honeypot",
    "spam",
    "invalid_characters",
)

UI: dict[str, dict[str, str]] = {
    "en": dict(
        zip(
            _KEYS,
            [
                "Language",
                "Next",
                "Send",
                "optional",
                "Please check your answers:",
                "Please answer this question.",
                "Choose a value on the scale.",
                "Choose a value on the scale.",
                "Choose one of the options.",
                "Choose only one option.",
                "Your answer is too long.",
                "This page was already answered; here is the next one.",
                "Thank you!",
                "This survey has already been answered. Thank you!",
                "This survey link is not valid.",
                "This survey link has expired.",
                "This survey session is not known; please start again.",
                "This survey does not exist.",
                "This survey link is not valid.",
                "Too many submissions; please wait a minute.",
                "Not at all likely",
                "Extremely likely",
                "Very dissatisfied",
                "Very satisfied",
                "Very easy",
                "Very difficult",
                "Poor",
                "Excellent",
                "Next customer",
                "Page {page} of {pages}",
                "Leave this field empty",
                "Your answer could not be accepted.",
                "Please remove the control characters from your answer.",
            ],
            strict=True,
        )
    ),
    "zh": dict(
        zip(
            _KEYS,
            [
                "语言",
                "下一步",
                "提交",
                "选填",
                "请检查您的回答：",
                "请回答此问题。",
                "请在量表上选择一个值。",
                "请在量表上选择一个值。",
                "请选择一个选项。",
                "只能选择一个选项。",
                "您的回答太长了。",
                "此页已回答，这是下一页。",
                "谢谢！",
                "此问卷已经填写过了。谢谢！",
                "此问卷链接无效。",
                "此问卷链接已过期。",
                "找不到此问卷会话，请重新开始。",
                "此问卷不存在。",
                "此问卷链接无效。",
                "提交过于频繁，请稍后再试。",
                "完全不可能",
                "极有可能",
                "非常不满意",
                "非常满意",
                "非常容易",
                "非常困难",
                "很差",
                "很好",
                "下一位顾客",
                "第 {page} 页，共 {pages} 页",
                "请勿填写此栏",
                "无法接受您的回答。",
                "请删除回答中的控制字符。",
            ],
            strict=True,
        )
    ),
    "ja": dict(
        zip(
            _KEYS,
            [
                "言語",
                "次へ",
                "送信",
                "任意",
                "回答を確認してください：",
                "この質問に回答してください。",
                "尺度から値を選んでください。",
                "尺度から値を選んでください。",
                "選択肢から選んでください。",
                "選択肢は1つだけ選んでください。",
                "回答が長すぎます。",
                "このページは回答済みです。次のページです。",
                "ありがとうございました！",
                "このアンケートは回答済みです。ありがとうございました！",
                "このアンケートのリンクは無効です。",
                "このアンケートのリンクは期限切れです。",
                "セッションが見つかりません。最初からやり直してください。",
                "このアンケートは存在しません。",
                "このアンケートのリンクは無効です。",
                "送信が多すぎます。しばらくお待ちください。",
                "まったく思わない",
                "非常にそう思う",
                "非常に不満",
                "非常に満足",
                "とても簡単",
                "とても難しい",
                "悪い",
                "とても良い",
                "次のお客様",
                "{page} / {pages} ページ",
                "この欄は空のままにしてください",
                "回答を受け付けられませんでした。",
                "回答から制御文字を削除してください。",
            ],
            strict=True,
        )
    ),
    "ko": dict(
        zip(
            _KEYS,
            [
                "언어",
                "다음",
                "제출",
                "선택",
                "답변을 확인해 주세요:",
                "이 질문에 답해 주세요.",
                "척도에서 값을 선택해 주세요.",
                "척도에서 값을 선택해 주세요.",
                "옵션 중 하나를 선택해 주세요.",
                "하나만 선택해 주세요.",
                "답변이 너무 깁니다.",
                "이미 답변한 페이지입니다. 다음 페이지입니다.",
                "감사합니다!",
                "이미 응답한 설문입니다. 감사합니다!",
                "유효하지 않은 설문 링크입니다.",
                "만료된 설문 링크입니다.",
                "설문 세션을 찾을 수 없습니다. 다시 시작해 주세요.",
                "존재하지 않는 설문입니다.",
                "유효하지 않은 설문 링크입니다.",
                "제출이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
                "전혀 그렇지 않다",
                "매우 그렇다",
                "매우 불만족",
                "매우 만족",
                "매우 쉬움",
                "매우 어려움",
                "나쁨",
                "매우 좋음",
                "다음 고객",
                "{page} / {pages} 페이지",
                "이 칸은 비워 두세요",
                "답변을 접수할 수 없습니다.",
                "답변에서 제어 문자를 지워 주세요.",
            ],
            strict=True,
        )
    ),
    "ru": dict(
        zip(
            _KEYS,
            [
                "Язык",
                "Далее",
                "Отправить",
                "необязательно",
                "Проверьте ответы:",
                "Пожалуйста, ответьте на этот вопрос.",
                "Выберите значение на шкале.",
                "Выберите значение на шкале.",
                "Выберите один из вариантов.",
                "Выберите только один вариант.",
                "Ответ слишком длинный.",
                "Эта страница уже заполнена; вот следующая.",
                "Спасибо!",
                "На этот опрос уже ответили. Спасибо!",
                "Ссылка на опрос недействительна.",
                "Срок действия ссылки истёк.",
                "Сеанс опроса не найден; начните заново.",
                "Такого опроса нет.",
                "Ссылка на опрос недействительна.",
                "Слишком много отправок; подождите минуту.",
                "Совсем маловероятно",
                "Очень вероятно",
                "Совсем не доволен",
                "Очень доволен",
                "Очень легко",
                "Очень трудно",
                "Плохо",
                "Отлично",
                "Следующий покупатель",
                "Страница {page} из {pages}",
                "Оставьте это поле пустым",
                "Ваш ответ не может быть принят.",
                "Удалите из ответа управляющие символы.",
            ],
            strict=True,
        )
    ),
    "pt": dict(
        zip(
            _KEYS,
            [
                "Idioma",
                "Seguinte",
                "Enviar",
                "opcional",
                "Verifique as suas respostas:",
                "Responda a esta pergunta.",
                "Escolha um valor na escala.",
                "Escolha um valor na escala.",
                "Escolha uma das opções.",
                "Escolha apenas uma opção.",
                "A sua resposta é demasiado longa.",
                "Esta página já foi respondida; eis a seguinte.",
                "Obrigado!",
                "Este inquérito já foi respondido. Obrigado!",
                "Este link de inquérito não é válido.",
                "Este link de inquérito expirou.",
                "Sessão de inquérito desconhecida; comece de novo.",
                "Este inquérito não existe.",
                "Este link de inquérito não é válido.",
                "Demasiados envios; aguarde um minuto.",
                "Nada provável",
                "Extremamente provável",
                "Muito insatisfeito",
                "Muito satisfeito",
                "Muito fácil",
                "Muito difícil",
                "Fraco",
                "Excelente",
                "Próximo cliente",
                "Página {page} de {pages}",
                "Deixe este campo vazio",
                "Não foi possível aceitar a sua resposta.",
                "Remova os caracteres de controlo da sua resposta.",
            ],
            strict=True,
        )
    ),
}


def ui(locale: str) -> dict[str, str]:
    """The form texts for a locale (English when it has none)."""
    return UI.get(locale, UI["en"])


def direction(locale: str) -> str:
    """``rtl`` for right-to-left languages, else ``ltr``."""
    return "rtl" if locale in RTL_LOCALES else "ltr"


def choose_locale(
    survey: Survey | None, requested: str | None, cookie: str | None, accept: str | None
) -> str:
    """The respondent's language: ``?lang=``, then the cookie, then Accept-Language, then the default."""
    offered = survey.locales if survey is not None else LOCALES
    for candidate in (requested, cookie):
        if candidate in offered:
            return str(candidate)
    ranked: list[tuple[float, str]] = []
    for part in (accept or "").split(",")[:20]:
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        ranked.append((weight, lang.split("-")[0].lower()))
    for _, lang in sorted(ranked, key=lambda x: -x[0]):
        if lang in offered:
            return lang
    return survey.default_locale if survey is not None else "en"
