"""Feedback text templates for the demo retailer, per language, aspect and polarity.

Comments, reviews, social posts and call/chat transcripts are assembled from these sentences, so
every text is about a known aspect with a known polarity (ground truth for text analytics). The
sentences are written to read naturally in each language rather than translated word for word.
"""

from __future__ import annotations

import numpy as np

#: Languages of the demo texts (ISO 639-1).
LANGUAGES: tuple[str, ...] = ("en", "zh", "ja", "ko", "ru", "pt")
#: Aspects the sentences talk about (ids follow the retail indicator system's sub-aspects).
ASPECTS: tuple[str, ...] = (
    "delivery",
    "checkout_queue",
    "staff",
    "price",
    "product_quality",
    "cleanliness",
    "app_usability",
    "returns",
    "availability",
    "support",
)
POSITIVE, NEGATIVE = 0, 1
#: Languages written without spaces between sentences.
_NO_SPACE = {"zh", "ja"}

_S = tuple[str, ...]
# SENTENCES[language][aspect] = (positive sentences, negative sentences)
SENTENCES: dict[str, dict[str, tuple[_S, _S]]] = {
    "en": {
        "delivery": (
            (
                "The delivery arrived on time and the courier was very friendly.",
                "Fast delivery, the parcel came a day earlier than promised.",
                "Everything arrived well packed and right on schedule.",
            ),
            (
                "My order arrived days later than promised and nobody told me why.",
                "The delivery was late again, I waited at home all day for nothing.",
                "The parcel was delayed for almost a week and the tracking never updated.",
            ),
        ),
        "checkout_queue": (
            (
                "The checkout was quick, I barely had to queue.",
                "Plenty of tills were open and I was through the checkout in a couple of minutes.",
                "No waiting at the checkout at all, great.",
            ),
            (
                "The queue at the checkout was far too long and only two tills were open.",
                "I waited over fifteen minutes in line just to pay.",
                "Huge queues at the tills again, it took longer to pay than to shop.",
            ),
        ),
        "staff": (
            (
                "The staff were friendly and really knew the products.",
                "A shop assistant helped me find exactly what I needed.",
                "Very helpful and polite staff, they went out of their way for me.",
            ),
            (
                "The staff were rude and did not seem to care.",
                "I could not find anyone to help me in the store.",
                "The employee had no idea about the product and was unfriendly.",
            ),
        ),
        "price": (
            (
                "Great prices and the promotion was a real bargain.",
                "Good value for money, cheaper than other shops.",
                "The discount at checkout made it a great deal.",
            ),
            (
                "Prices have gone up a lot, it is too expensive now.",
                "The promotion did not apply at checkout, so I paid full price.",
                "Overpriced compared with other shops nearby.",
            ),
        ),
        "product_quality": (
            (
                "Excellent quality, it works perfectly.",
                "The product is well made and exactly as described.",
                "Really good quality for the price, I would buy it again.",
            ),
            (
                "Poor quality, it broke after a few days.",
                "The product looks cheap and is not as described.",
                "Disappointing quality, it stopped working within a week.",
            ),
        ),
        "cleanliness": (
            (
                "The store was clean and tidy.",
                "Spotless aisles and well organised shelves.",
                "A clean, bright and pleasant store.",
            ),
            (
                "The store was dirty and the floor was sticky.",
                "Messy shelves and rubbish in the aisles.",
                "The toilets and the entrance were filthy.",
            ),
        ),
        "app_usability": (
            (
                "The app is easy to use and checkout takes seconds.",
                "The website is fast and the search finds what I want.",
                "Ordering in the app was simple and smooth.",
            ),
            (
                "The app keeps crashing at checkout.",
                "The website is slow and the search results are useless.",
                "I had to log in three times before the app let me pay.",
            ),
        ),
        "returns": (
            (
                "Returning the item was easy and the refund came quickly.",
                "Hassle-free return, the refund arrived in two days.",
                "The exchange in store took five minutes.",
            ),
            (
                "The return process is a nightmare and I am still waiting for my refund.",
                "They refused my return even though the item was faulty.",
                "It took weeks to get my money back after the return.",
            ),
        ),
        "availability": (
            (
                "Everything I needed was in stock.",
                "Great selection and lots of fresh produce.",
                "They had every size and colour available.",
            ),
            (
                "Half the items on my list were out of stock.",
                "The shelves were empty again.",
                "The website said it was available but the store did not have it.",
            ),
        ),
        "support": (
            (
                "The agent solved my problem in one call.",
                "Customer service was quick and very helpful.",
                "The chat agent sorted everything out in minutes.",
            ),
            (
                "I was on hold for forty minutes and nobody could help.",
                "Customer service kept transferring me and nothing was solved.",
                "The chat agent sent a copy-paste answer and closed the chat.",
            ),
        ),
    },
    "zh": {
        "delivery": (
            (
                "快递准时送到，快递员态度也很好。",
                "发货很快，比承诺的时间还早一天到。",
                "包装完好，按时送达。",
            ),
            (
                "订单比承诺的时间晚了好几天才到，也没人解释原因。",
                "配送又延迟了，我在家等了一整天也没送来。",
                "包裹拖了快一个星期，物流信息一直没有更新。",
            ),
        ),
        "checkout_queue": (
            ("结账很快，几乎不用排队。", "收银台开得很多，两分钟就结完账了。", "结账完全不用等，很方便。"),
            (
                "结账排队太长了，只开了两个收银台。",
                "光是排队付款就等了十五分钟以上。",
                "收银台又排起了长队，付款比买东西还费时间。",
            ),
        ),
        "staff": (
            (
                "店员很热情，对商品也很了解。",
                "导购帮我很快找到了需要的东西。",
                "员工非常耐心有礼貌，服务很周到。",
            ),
            (
                "店员态度很差，爱理不理的。",
                "在店里找不到任何员工帮忙。",
                "店员对产品一问三不知，态度也不友好。",
            ),
        ),
        "price": (
            (
                "价格很实惠，这次促销真的很划算。",
                "性价比很高，比别的店便宜。",
                "结账时的折扣让这单非常超值。",
            ),
            (
                "价格涨了很多，现在太贵了。",
                "结账时促销没有生效，我付了原价。",
                "和附近其他店比起来价格偏高。",
            ),
        ),
        "product_quality": (
            (
                "质量非常好，用起来很顺手。",
                "做工精细，和描述的一模一样。",
                "这个价格能买到这样的质量很值，会回购。",
            ),
            (
                "质量太差了，用了几天就坏了。",
                "东西看起来很廉价，和描述不符。",
                "质量令人失望，不到一周就不能用了。",
            ),
        ),
        "cleanliness": (
            ("店里干净整洁。", "过道一尘不染，货架摆放得井井有条。", "门店明亮干净，购物环境很舒服。"),
            ("店里很脏，地板黏糊糊的。", "货架乱七八糟，过道里还有垃圾。", "洗手间和入口都很脏。"),
        ),
        "app_usability": (
            ("App很好用，几秒钟就能完成下单。", "网站速度很快，搜索也很准确。", "在App上下单简单又流畅。"),
            ("App一到结账就闪退。", "网站很卡，搜索结果完全没用。", "登录了三次App才让我付款。"),
        ),
        "returns": (
            (
                "退货很方便，退款也很快到账。",
                "退货没有任何麻烦，两天就收到了退款。",
                "在门店换货只用了五分钟。",
            ),
            (
                "退货流程太折腾了，到现在还没收到退款。",
                "商品明明有质量问题，却拒绝给我退货。",
                "退货后好几个星期才拿回钱。",
            ),
        ),
        "availability": (
            ("需要的东西都有货。", "商品种类齐全，生鲜也很多。", "各种尺码和颜色都有。"),
            ("清单上一半的商品都缺货。", "货架又是空的。", "网上显示有货，但门店里根本没有。"),
        ),
        "support": (
            (
                "客服一个电话就帮我解决了问题。",
                "客服响应很快，非常有帮助。",
                "在线客服几分钟就把事情处理好了。",
            ),
            (
                "电话等了四十分钟也没人能帮我。",
                "客服一直把我转来转去，问题还是没解决。",
                "在线客服只会复制粘贴回复，然后就结束了对话。",
            ),
        ),
    },
    "ja": {
        "delivery": (
            (
                "配達は時間通りで、配達員の方もとても親切でした。",
                "発送が早く、予定より一日早く届きました。",
                "梱包も丁寧で、予定どおりに届きました。",
            ),
            (
                "注文した商品が予定より何日も遅れて届き、理由の説明もありませんでした。",
                "また配達が遅れて、一日中家で待っていたのに届きませんでした。",
                "荷物が一週間近く遅れ、追跡情報も更新されませんでした。",
            ),
        ),
        "checkout_queue": (
            (
                "レジがすぐで、ほとんど並びませんでした。",
                "レジがたくさん開いていて、数分で会計が終わりました。",
                "レジで全く待たずに済みました。",
            ),
            (
                "レジの列が長すぎるのに、二台しか開いていませんでした。",
                "支払いのために十五分以上並びました。",
                "またレジが大行列で、買い物より会計の方が時間がかかりました。",
            ),
        ),
        "staff": (
            (
                "店員さんが親切で、商品にも詳しかったです。",
                "スタッフの方が探していた商品をすぐに見つけてくれました。",
                "とても丁寧で感じの良い接客でした。",
            ),
            (
                "店員の態度が悪く、やる気が感じられませんでした。",
                "店内で手伝ってくれるスタッフが見つかりませんでした。",
                "店員は商品のことを全く知らず、不親切でした。",
            ),
        ),
        "price": (
            (
                "値段が安く、セールも本当にお得でした。",
                "コスパが良く、他の店より安いです。",
                "レジでの割引でとてもお得に買えました。",
            ),
            (
                "値段がかなり上がって、今は高すぎます。",
                "会計でキャンペーンが適用されず、定価で払いました。",
                "近くの他の店と比べて割高です。",
            ),
        ),
        "product_quality": (
            (
                "品質がとても良く、問題なく使えています。",
                "作りがしっかりしていて、説明どおりの商品でした。",
                "この値段でこの品質なら大満足です。また買います。",
            ),
            (
                "品質が悪く、数日で壊れました。",
                "安っぽくて、説明と違う商品でした。",
                "品質にがっかりしました。一週間もたたずに使えなくなりました。",
            ),
        ),
        "cleanliness": (
            (
                "店内が清潔で整っていました。",
                "通路がきれいで、棚もよく整理されていました。",
                "明るく清潔で、気持ちのいいお店です。",
            ),
            (
                "店内が汚く、床がべたべたしていました。",
                "棚が散らかっていて、通路にごみが落ちていました。",
                "トイレも入口もとても汚かったです。",
            ),
        ),
        "app_usability": (
            (
                "アプリが使いやすく、数秒で注文できます。",
                "サイトの動作が速く、検索ですぐに見つかります。",
                "アプリでの注文は簡単でスムーズでした。",
            ),
            (
                "アプリが会計の途中で何度も落ちます。",
                "サイトが重く、検索結果が役に立ちません。",
                "三回もログインし直さないと支払いができませんでした。",
            ),
        ),
        "returns": (
            (
                "返品が簡単で、返金もすぐでした。",
                "返品の手続きがスムーズで、二日で返金されました。",
                "店舗での交換は五分で終わりました。",
            ),
            (
                "返品の手続きがひどく、まだ返金されていません。",
                "不良品なのに返品を断られました。",
                "返品してから返金まで何週間もかかりました。",
            ),
        ),
        "availability": (
            (
                "必要なものが全部そろっていました。",
                "品ぞろえが豊富で、生鮮食品もたくさんありました。",
                "サイズも色も全部そろっていました。",
            ),
            (
                "買い物リストの半分が品切れでした。",
                "また棚が空っぽでした。",
                "オンラインでは在庫ありなのに、店舗にはありませんでした。",
            ),
        ),
        "support": (
            (
                "オペレーターが一回の電話で問題を解決してくれました。",
                "カスタマーサービスの対応が早く、とても助かりました。",
                "チャットの担当者が数分ですべて対応してくれました。",
            ),
            (
                "四十分も保留にされ、誰も助けてくれませんでした。",
                "たらい回しにされて、結局何も解決しませんでした。",
                "チャットの担当者は定型文を返しただけで、チャットを終了しました。",
            ),
        ),
    },
    "ko": {
        "delivery": (
            (
                "배송이 제시간에 왔고 기사님도 아주 친절하셨어요.",
                "배송이 빨라서 약속보다 하루 일찍 도착했어요.",
                "포장도 꼼꼼하고 예정대로 잘 도착했어요.",
            ),
            (
                "주문한 상품이 약속보다 며칠이나 늦게 왔는데 아무런 설명도 없었어요.",
                "배송이 또 늦어서 하루 종일 집에서 기다렸는데 결국 안 왔어요.",
                "택배가 거의 일주일이나 지연됐고 배송 조회도 업데이트되지 않았어요.",
            ),
        ),
        "checkout_queue": (
            (
                "계산이 빨라서 거의 줄을 서지 않았어요.",
                "계산대가 많이 열려 있어서 몇 분 만에 계산을 마쳤어요.",
                "계산대에서 전혀 기다리지 않아서 좋았어요.",
            ),
            (
                "계산대 줄이 너무 길었는데 계산대는 두 개만 열려 있었어요.",
                "계산하려고 15분 넘게 줄을 섰어요.",
                "또 계산대에 긴 줄이 있어서 장보는 것보다 계산이 더 오래 걸렸어요.",
            ),
        ),
        "staff": (
            (
                "직원분들이 친절하고 상품에 대해 잘 알고 계셨어요.",
                "직원분이 필요한 물건을 바로 찾아 주셨어요.",
                "정말 친절하고 예의 바른 직원들이었어요.",
            ),
            (
                "직원이 불친절하고 무관심했어요.",
                "매장에서 도와줄 직원을 찾을 수가 없었어요.",
                "직원이 상품에 대해 전혀 모르고 태도도 불친절했어요.",
            ),
        ),
        "price": (
            (
                "가격이 저렴하고 이번 행사는 정말 이득이었어요.",
                "가성비가 좋고 다른 가게보다 싸요.",
                "계산할 때 할인을 받아서 아주 싸게 샀어요.",
            ),
            (
                "가격이 많이 올라서 이제는 너무 비싸요.",
                "계산할 때 행사 할인이 적용되지 않아서 정가를 냈어요.",
                "근처 다른 가게보다 비싸요.",
            ),
        ),
        "product_quality": (
            (
                "품질이 아주 좋고 잘 작동해요.",
                "마감이 꼼꼼하고 설명 그대로예요.",
                "이 가격에 이 품질이면 정말 만족해요. 재구매할게요.",
            ),
            (
                "품질이 형편없어서 며칠 만에 고장 났어요.",
                "싸구려 같고 설명과 달라요.",
                "품질이 실망스러워요. 일주일도 안 돼서 작동이 멈췄어요.",
            ),
        ),
        "cleanliness": (
            (
                "매장이 깨끗하고 정돈되어 있었어요.",
                "통로가 깨끗하고 진열대도 잘 정리되어 있었어요.",
                "밝고 깨끗해서 쇼핑하기 좋은 매장이에요.",
            ),
            (
                "매장이 더럽고 바닥이 끈적거렸어요.",
                "진열대가 엉망이고 통로에 쓰레기가 있었어요.",
                "화장실과 입구가 너무 지저분했어요.",
            ),
        ),
        "app_usability": (
            (
                "앱이 사용하기 쉽고 몇 초 만에 결제할 수 있어요.",
                "웹사이트가 빠르고 검색도 잘 돼요.",
                "앱으로 주문하는 게 간단하고 편리했어요.",
            ),
            (
                "결제할 때마다 앱이 자꾸 꺼져요.",
                "웹사이트가 느리고 검색 결과가 엉망이에요.",
                "결제하려고 로그인을 세 번이나 해야 했어요.",
            ),
        ),
        "returns": (
            (
                "반품이 간편하고 환불도 빨리 됐어요.",
                "반품이 번거롭지 않았고 이틀 만에 환불받았어요.",
                "매장에서 교환하는 데 5분밖에 안 걸렸어요.",
            ),
            (
                "반품 절차가 너무 복잡하고 아직도 환불을 못 받았어요.",
                "불량품인데도 반품을 거절당했어요.",
                "반품하고 환불받기까지 몇 주나 걸렸어요.",
            ),
        ),
        "availability": (
            (
                "필요한 물건이 다 있었어요.",
                "상품 구색이 다양하고 신선식품도 많았어요.",
                "모든 사이즈와 색상이 다 있었어요.",
            ),
            (
                "장보기 목록의 절반이 품절이었어요.",
                "진열대가 또 텅 비어 있었어요.",
                "온라인에서는 재고가 있다고 나왔는데 매장에는 없었어요.",
            ),
        ),
        "support": (
            (
                "상담원이 전화 한 통으로 문제를 해결해 주셨어요.",
                "고객센터 응대가 빠르고 정말 도움이 됐어요.",
                "채팅 상담원이 몇 분 만에 모든 걸 처리해 주셨어요.",
            ),
            (
                "40분이나 대기했는데 아무도 도와주지 못했어요.",
                "상담원이 계속 다른 부서로 돌리기만 하고 해결된 게 없어요.",
                "채팅 상담원이 복사해 붙인 답변만 보내고 채팅을 종료했어요.",
            ),
        ),
    },
    "ru": {
        "delivery": (
            (
                "Доставка пришла вовремя, курьер был очень вежлив.",
                "Быстрая доставка, посылка пришла на день раньше обещанного.",
                "Всё пришло хорошо упакованным и точно в срок.",
            ),
            (
                "Заказ пришёл на несколько дней позже обещанного, и никто не объяснил почему.",
                "Доставка опять опоздала, я весь день прождал дома впустую.",
                "Посылка задержалась почти на неделю, а отслеживание так и не обновилось.",
            ),
        ),
        "checkout_queue": (
            (
                "На кассе всё быстро, почти не пришлось стоять в очереди.",
                "Было открыто много касс, я оплатил покупки за пару минут.",
                "На кассе совсем не было очереди, отлично.",
            ),
            (
                "Очередь на кассе была слишком длинной, работали только две кассы.",
                "Я простоял в очереди больше пятнадцати минут, просто чтобы заплатить.",
                "Опять огромные очереди на кассах, оплата заняла больше времени, чем покупки.",
            ),
        ),
        "staff": (
            (
                "Сотрудники были доброжелательны и хорошо разбирались в товарах.",
                "Продавец помог мне быстро найти именно то, что нужно.",
                "Очень вежливый и внимательный персонал.",
            ),
            (
                "Персонал был грубым и равнодушным.",
                "В магазине не было никого, кто мог бы помочь.",
                "Сотрудник ничего не знал о товаре и был неприветлив.",
            ),
        ),
        "price": (
            (
                "Отличные цены, акция была действительно выгодной.",
                "Хорошее соотношение цены и качества, дешевле, чем в других магазинах.",
                "Скидка на кассе сделала покупку очень выгодной.",
            ),
            (
                "Цены сильно выросли, теперь слишком дорого.",
                "Акция не сработала на кассе, и я заплатил полную цену.",
                "Дороже, чем в других магазинах поблизости.",
            ),
        ),
        "product_quality": (
            (
                "Отличное качество, всё работает идеально.",
                "Товар хорошо сделан и полностью соответствует описанию.",
                "Очень хорошее качество за свою цену, куплю ещё.",
            ),
            (
                "Плохое качество, сломалось через несколько дней.",
                "Товар выглядит дёшево и не соответствует описанию.",
                "Качество разочаровало, перестало работать меньше чем через неделю.",
            ),
        ),
        "cleanliness": (
            (
                "В магазине чисто и аккуратно.",
                "Чистые проходы и хорошо организованные полки.",
                "Светлый, чистый и приятный магазин.",
            ),
            (
                "В магазине грязно, пол липкий.",
                "На полках беспорядок, в проходах мусор.",
                "Туалеты и вход были очень грязными.",
            ),
        ),
        "app_usability": (
            (
                "Приложение удобное, оформление заказа занимает секунды.",
                "Сайт работает быстро, поиск находит то, что нужно.",
                "Заказывать через приложение просто и удобно.",
            ),
            (
                "Приложение постоянно вылетает при оформлении заказа.",
                "Сайт тормозит, а поиск выдаёт бесполезные результаты.",
                "Пришлось три раза входить в аккаунт, прежде чем приложение дало оплатить.",
            ),
        ),
        "returns": (
            (
                "Вернуть товар было легко, деньги вернули быстро.",
                "Возврат без проблем, деньги пришли через два дня.",
                "Обмен в магазине занял пять минут.",
            ),
            (
                "Процесс возврата — это кошмар, я до сих пор жду деньги.",
                "Мне отказали в возврате, хотя товар был бракованным.",
                "После возврата деньги возвращали несколько недель.",
            ),
        ),
        "availability": (
            (
                "Всё, что мне было нужно, было в наличии.",
                "Большой выбор, много свежих продуктов.",
                "Были все размеры и цвета.",
            ),
            (
                "Половины товаров из моего списка не было в наличии.",
                "Полки опять пустые.",
                "На сайте товар был в наличии, а в магазине его не оказалось.",
            ),
        ),
        "support": (
            (
                "Оператор решил мою проблему за один звонок.",
                "Служба поддержки ответила быстро и очень помогла.",
                "Оператор в чате всё уладил за несколько минут.",
            ),
            (
                "Я сорок минут ждал на линии, и никто не смог помочь.",
                "Меня постоянно переключали, а проблему так и не решили.",
                "Оператор в чате прислал шаблонный ответ и закрыл чат.",
            ),
        ),
    },
    "pt": {
        "delivery": (
            (
                "A entrega chegou no prazo e o entregador foi muito simpático.",
                "Entrega rápida, o pacote chegou um dia antes do prometido.",
                "Tudo chegou bem embalado e dentro do prazo.",
            ),
            (
                "Meu pedido chegou vários dias depois do prometido e ninguém explicou o motivo.",
                "A entrega atrasou de novo, fiquei o dia inteiro em casa esperando à toa.",
                "O pacote atrasou quase uma semana e o rastreamento nunca foi atualizado.",
            ),
        ),
        "checkout_queue": (
            (
                "O caixa foi rápido, quase não peguei fila.",
                "Havia muitos caixas abertos e paguei em dois minutos.",
                "Nenhuma espera no caixa, ótimo.",
            ),
            (
                "A fila do caixa estava enorme e só havia dois caixas abertos.",
                "Esperei mais de quinze minutos na fila só para pagar.",
                "Filas enormes nos caixas de novo, demorou mais para pagar do que para fazer as compras.",
            ),
        ),
        "staff": (
            (
                "Os funcionários foram simpáticos e conheciam bem os produtos.",
                "Um vendedor me ajudou a encontrar exatamente o que eu precisava.",
                "Equipe muito prestativa e educada.",
            ),
            (
                "Os funcionários foram grosseiros e nem ligaram para mim.",
                "Não encontrei ninguém para me ajudar na loja.",
                "O funcionário não sabia nada sobre o produto e foi mal-educado.",
            ),
        ),
        "price": (
            (
                "Preços ótimos e a promoção valeu muito a pena.",
                "Bom custo-benefício, mais barato que outras lojas.",
                "O desconto no caixa deixou a compra muito vantajosa.",
            ),
            (
                "Os preços subiram muito, agora está caro demais.",
                "A promoção não foi aplicada no caixa e paguei o preço cheio.",
                "Mais caro do que outras lojas da região.",
            ),
        ),
        "product_quality": (
            (
                "Qualidade excelente, funciona perfeitamente.",
                "O produto é bem-feito e exatamente como descrito.",
                "Qualidade muito boa pelo preço, compraria de novo.",
            ),
            (
                "Qualidade péssima, quebrou depois de poucos dias.",
                "O produto parece barato e não corresponde à descrição.",
                "Qualidade decepcionante, parou de funcionar em menos de uma semana.",
            ),
        ),
        "cleanliness": (
            (
                "A loja estava limpa e organizada.",
                "Corredores impecáveis e prateleiras bem arrumadas.",
                "Loja limpa, iluminada e agradável.",
            ),
            (
                "A loja estava suja e o chão grudento.",
                "Prateleiras bagunçadas e lixo nos corredores.",
                "Os banheiros e a entrada estavam imundos.",
            ),
        ),
        "app_usability": (
            (
                "O aplicativo é fácil de usar e o pagamento leva segundos.",
                "O site é rápido e a busca encontra o que eu quero.",
                "Comprar pelo aplicativo foi simples e tranquilo.",
            ),
            (
                "O aplicativo trava na hora de finalizar a compra.",
                "O site é lento e os resultados da busca não servem para nada.",
                "Tive que fazer login três vezes até o aplicativo me deixar pagar.",
            ),
        ),
        "returns": (
            (
                "Devolver o produto foi fácil e o reembolso saiu rápido.",
                "Devolução sem complicação, o reembolso chegou em dois dias.",
                "A troca na loja levou cinco minutos.",
            ),
            (
                "O processo de devolução é um pesadelo e ainda estou esperando o reembolso.",
                "Recusaram a minha devolução mesmo com o produto com defeito.",
                "Levou semanas para receber o dinheiro de volta depois da devolução.",
            ),
        ),
        "availability": (
            (
                "Tinha tudo o que eu precisava.",
                "Ótima variedade e muitos produtos frescos.",
                "Tinha todos os tamanhos e cores.",
            ),
            (
                "Metade dos itens da minha lista estava em falta.",
                "As prateleiras estavam vazias de novo.",
                "O site mostrava o produto disponível, mas a loja não tinha.",
            ),
        ),
        "support": (
            (
                "O atendente resolveu o meu problema em uma ligação.",
                "O atendimento foi rápido e muito útil.",
                "O atendente do chat resolveu tudo em poucos minutos.",
            ),
            (
                "Fiquei quarenta minutos na espera e ninguém conseguiu ajudar.",
                "O atendimento ficou me transferindo e nada foi resolvido.",
                "O atendente do chat mandou uma resposta pronta e encerrou a conversa.",
            ),
        ),
    },
}

# TITLES[language] = (positive, mixed, negative) review titles
TITLES: dict[str, tuple[_S, _S, _S]] = {
    "en": (
        ("Excellent", "Very happy with it", "Great value", "Highly recommend"),
        ("It's okay", "Good but not perfect", "Mixed feelings", "Average"),
        ("Disappointed", "Would not buy again", "Poor quality", "Not worth it"),
    ),
    "zh": (
        ("非常满意", "物超所值", "强烈推荐", "很好用"),
        ("还行吧", "有好有坏", "一般般", "凑合"),
        ("很失望", "不会再买了", "质量太差", "不值这个价"),
    ),
    "ja": (
        ("大満足です", "コスパ最高", "おすすめです", "とても良い"),
        ("まあまあです", "良い点も悪い点も", "普通です", "可もなく不可もなく"),
        ("がっかりしました", "リピートなし", "品質が悪い", "値段に見合わない"),
    ),
    "ko": (
        ("아주 만족해요", "가성비 최고", "강력 추천해요", "정말 좋아요"),
        ("그냥 그래요", "장단점이 있어요", "보통이에요", "무난해요"),
        ("실망했어요", "재구매 의사 없어요", "품질이 별로예요", "돈이 아까워요"),
    ),
    "ru": (
        ("Отлично", "Очень доволен", "Стоит своих денег", "Рекомендую"),
        ("Нормально", "Хорошо, но не идеально", "Неоднозначно", "Средне"),
        ("Разочарован", "Больше не куплю", "Плохое качество", "Не стоит своих денег"),
    ),
    "pt": (
        ("Excelente", "Muito satisfeito", "Ótimo custo-benefício", "Recomendo muito"),
        ("Razoável", "Bom, mas não perfeito", "Sentimentos mistos", "Mediano"),
        ("Decepcionado", "Não compro de novo", "Qualidade ruim", "Não vale o preço"),
    ),
}

# TRANSCRIPT[language] = (customer label, agent label, agent lines when resolved,
#   agent lines when not resolved, customer closing when satisfied, closing when not)
TRANSCRIPT: dict[str, tuple[str, str, _S, _S, _S, _S]] = {
    "en": (
        "Customer",
        "Agent",
        (
            "I'm sorry about that, I have sorted it out for you now.",
            "Thanks for your patience, that is fixed.",
        ),
        (
            "I'm sorry, I have logged it and someone will contact you within 24 hours.",
            "I can't solve that here, I'll transfer you to another team.",
        ),
        ("Thank you, that was very helpful.", "Great, thanks for your help."),
        ("This is the third time I have called about this.", "This is really disappointing."),
    ),
    "zh": (
        "顾客",
        "客服",
        ("非常抱歉给您带来不便，我已经为您处理好了。", "感谢您的耐心等待，问题已经解决了。"),
        ("很抱歉，我已经记录下来，会在24小时内回复您。", "这个问题我这边处理不了，需要转给其他部门。"),
        ("好的，谢谢，帮了大忙。", "谢谢，问题解决了。"),
        ("这已经是我第三次为这个问题联系你们了。", "太让人失望了。"),
    ),
    "ja": (
        "お客様",
        "担当者",
        (
            "ご不便をおかけして申し訳ございません。こちらで対応いたしました。",
            "お待たせいたしました。問題は解決いたしました。",
        ),
        (
            "申し訳ございません。記録いたしましたので、24時間以内にご連絡いたします。",
            "こちらでは対応いたしかねますので、担当部署におつなぎします。",
        ),
        ("ありがとうございます。とても助かりました。", "解決してよかったです。ありがとうございました。"),
        ("この件で問い合わせるのはもう三回目です。", "本当にがっかりです。"),
    ),
    "ko": (
        "고객",
        "상담원",
        (
            "불편을 드려 죄송합니다. 바로 처리해 드렸습니다.",
            "기다려 주셔서 감사합니다. 문제가 해결되었습니다.",
        ),
        (
            "죄송합니다. 접수해 두었으니 24시간 안에 연락드리겠습니다.",
            "이 건은 제가 처리할 수 없어서 다른 부서로 연결해 드리겠습니다.",
        ),
        ("감사합니다. 정말 도움이 됐어요.", "해결돼서 다행이에요. 감사합니다."),
        ("이 문제로 연락한 게 벌써 세 번째예요.", "정말 실망스럽네요."),
    ),
    "ru": (
        "Клиент",
        "Оператор",
        ("Приносим извинения за неудобства, я уже всё исправил.", "Спасибо за ожидание, проблема решена."),
        (
            "Извините, я зарегистрировал обращение, мы свяжемся с вами в течение 24 часов.",
            "Я не могу решить этот вопрос, переведу вас в другой отдел.",
        ),
        ("Спасибо, вы очень помогли.", "Отлично, спасибо за помощь."),
        ("Я обращаюсь по этому поводу уже третий раз.", "Это очень разочаровывает."),
    ),
    "pt": (
        "Cliente",
        "Atendente",
        (
            "Pedimos desculpas pelo transtorno, já resolvi para você.",
            "Obrigado pela paciência, o problema foi resolvido.",
        ),
        (
            "Sinto muito, registrei a sua solicitação e retornaremos em até 24 horas.",
            "Não consigo resolver isso por aqui, vou transferir para outro setor.",
        ),
        ("Obrigado, ajudou muito.", "Ótimo, obrigado pela ajuda."),
        ("Já é a terceira vez que entro em contato por causa disso.", "Isso é muito decepcionante."),
    ),
}

_VARIANTS = 3
_TITLE_VARIANTS = 4


def _sentence_table() -> np.ndarray:
    """Object array [language, aspect, polarity, variant] of sentences."""
    table = np.empty((len(LANGUAGES), len(ASPECTS), 2, _VARIANTS), dtype=object)
    for li, lang in enumerate(LANGUAGES):
        for ai, aspect in enumerate(ASPECTS):
            for pol in (POSITIVE, NEGATIVE):
                variants = SENTENCES[lang][aspect][pol]
                if len(variants) != _VARIANTS:
                    raise ValueError(f"{lang}/{aspect}: expected {_VARIANTS} variants")
                table[li, ai, pol, :] = variants
    return table


_TABLE = _sentence_table()
_TITLES = np.array([[list(TITLES[lang][k]) for k in range(3)] for lang in LANGUAGES], dtype=object)


def sentences(
    rng: np.random.Generator, lang: np.ndarray, aspect: np.ndarray, negative: np.ndarray
) -> np.ndarray:
    """One sentence per row about ``aspect`` (code into ASPECTS) in ``lang`` (code into LANGUAGES)."""
    variant = rng.integers(0, _VARIANTS, len(lang))
    out: np.ndarray = _TABLE[lang, aspect, negative.astype(np.int64), variant]
    return out


def join(lang: np.ndarray, *parts: np.ndarray) -> list[str | None]:
    """Join sentence columns row by row (None parts are skipped), with the language's spacing."""
    out: list[str | None] = []
    for i, code in enumerate(lang.tolist()):
        sep = "" if LANGUAGES[code] in _NO_SPACE else " "
        pieces = [p[i] for p in parts if p[i] is not None]
        out.append(sep.join(pieces) if pieces else None)
    return out


def titles(rng: np.random.Generator, lang: np.ndarray, rating: np.ndarray) -> np.ndarray:
    """A review title per row that fits the star rating (4-5 positive, 3 mixed, 1-2 negative)."""
    tone = np.where(rating >= 4, 0, np.where(rating == 3, 1, 2))
    out: np.ndarray = _TITLES[lang, tone, rng.integers(0, _TITLE_VARIANTS, len(lang))]
    return out


def transcripts(
    rng: np.random.Generator, lang: np.ndarray, opening: np.ndarray, resolved: np.ndarray
) -> list[str]:
    """Call or chat transcripts: the customer's opening sentence, the agent's reply, the close."""
    pick = rng.integers(0, 2, size=(len(lang), 2))
    out = []
    for i, code in enumerate(lang.tolist()):
        customer, agent, fixed, unfixed, happy, unhappy = TRANSCRIPT[LANGUAGES[code]]
        colon = "：" if LANGUAGES[code] in _NO_SPACE else ": "
        ok = bool(resolved[i])
        reply = (fixed if ok else unfixed)[pick[i, 0]]
        close = (happy if ok else unhappy)[pick[i, 1]]
        out.append(f"{customer}{colon}{opening[i]}\n{agent}{colon}{reply}\n{customer}{colon}{close}")
    return out
