#!/usr/bin/env python3
"""Generates the labelled corpus of internal/spam's precision/recall test.

Synthetic: sentences assembled from word lists with a fixed seed
(random.Random(15)), so the corpus is reproducible and carries no one's
private mail. Run: python3 gen.py (rewrites ham/ and spam/).
"""
import base64, os, quopri, random, shutil

R = random.Random(15)

EN_HAM_SUBJ = ["Meeting notes for {d}", "Re: project {p} status", "Lunch on {d}?", "Draft of the {p} report",
               "Re: invoice question", "Photos from the weekend", "Agenda: {p} review", "Re: your pull request",
               "Train times for {d}", "Budget for Q3", "Fwd: conference schedule", "Re: school trip"]
EN_HAM = ["I attached the draft of the {p} report, please review section {n} before {d}.",
          "Can we move the meeting to {d} afternoon? The room is booked until three.",
          "The build failed again on the integration server, I think the {p} tests are flaky.",
          "Thanks for the photos, the kids loved the lake and want to go back in {m}.",
          "Here are my notes from the call: we agreed to ship version {n} after the review.",
          "Could you check the invoice number {n}? The amount does not match the order.",
          "My train arrives at {n} o'clock, I will walk from the station to the office.",
          "Let me know if the budget for {p} needs another pass before finance sees it.",
          "The customer asked about the delivery date, I told them {d} at the latest.",
          "Grandma says thanks for the flowers, she will call you on {d} evening.",
          "I fixed the bug in the parser and added a regression test for issue {n}.",
          "Please bring the signed forms to school on {d}, the trip leaves at eight.",
          "We should free some money in the budget; the offer from the supplier is good.",
          "Click the link in the calendar invite to join the video call: https://meet.{c}.example/{n}"]
EN_SPAM_SUBJ = ["You have WON ${n},000!!!", "Cheap meds, no prescription", "Re: your account is suspended",
                "Make money fast from home", "Limited offer: {n}% OFF", "Hot singles in your area",
                "URGENT: verify your payment", "Crypto investment doubles in {n} days", "Your parcel is waiting",
                "Lowest mortgage rates guaranteed", "Congratulations winner", "Free gift card inside"]
EN_SPAM = ["Click here to claim your free prize of ${n},000 now: http://win-{c}.example/claim",
           "Buy cheap viagra and cialis online, no prescription needed, discreet shipping.",
           "Your account has been suspended, verify your password immediately at http://secure-{c}.example/login",
           "Earn ${n} per day working from home, no experience, limited places, act now!",
           "Invest in bitcoin today and double your money in {n} days, guaranteed returns.",
           "Dear friend, I am a prince and need your help to transfer {n} million dollars.",
           "Limited time offer: {n}% off all luxury watches, free shipping worldwide.",
           "Lose weight fast with this one weird trick doctors hate, order today.",
           "You are pre-approved for a loan of ${n},000 with the lowest rates, apply now.",
           "Unsubscribe here if you do not want to receive our exclusive offers.",
           "Your parcel could not be delivered, pay the customs fee at http://track-{c}.example",
           "Meet hot singles tonight, click the link and sign up for free."]
ZH_HAM_SUBJ = ["关于{p}项目的会议纪要", "回复：下周的出差安排", "周末聚餐", "{p}报告初稿", "回复：发票问题",
               "孩子学校的通知", "本月预算", "回复：代码审查意见", "春节放假安排", "培训课程资料"]
ZH_HAM = ["附件是{p}项目的报告初稿，请在{d}之前看一下第{n}节。",
          "下周三下午的会议能不能改到周四？会议室已经订满了。",
          "测试服务器上的构建又失败了，我觉得是{p}模块的测试不稳定。",
          "周末的照片收到了，孩子们很喜欢那个湖，说{m}还想再去。",
          "今天电话会议的结论：评审通过以后发布第{n}版。",
          "麻烦核对一下第{n}号发票，金额和订单对不上。",
          "我的火车{n}点到，下车后走路去公司。",
          "客户问交货日期，我说最晚{d}。",
          "奶奶说谢谢你送的花，她{d}晚上给你打电话。",
          "解析器的问题已经修好了，也加了回归测试。",
          "请{d}把签好字的表格带到学校，八点出发。",
          "春节放假时间按公司通知执行，值班表见附件。",
          "培训课程的资料放在共享目录里了，大家提前预习。"]
ZH_SPAM_SUBJ = ["代开各类发票", "恭喜您中奖了！！！", "低息贷款，当天放款", "您的账户已被冻结", "日赚{n}元不是梦",
                "特价名表{n}折", "免费领取礼品卡", "澳门赌场在线开户", "网赚项目招代理", "减肥神药"]
ZH_SPAM = ["本公司常年代开增值税发票，点数优惠，欢迎来电咨询：{n}。",
           "恭喜您获得{n}万元大奖，请点击链接领取：http://zj-{c}.example/lingjiang",
           "无抵押低息贷款，当天放款，额度{n}万，手续简单。",
           "您的银行账户异常已被冻结，请立即登录 http://bank-{c}.example 验证身份。",
           "在家兼职日赚{n}元，无需经验，名额有限，赶快加微信。",
           "高仿名表{n}折特价，全国包邮，货到付款。",
           "在线赌场注册就送{n}元彩金，提款秒到账。",
           "减肥神药，一个月瘦{n}斤，不反弹，无副作用。",
           "招聘网赚代理，轻松月入过万，详情咨询客服。",
           "如不想再收到此类邮件，请回复退订。"]

# Traditional-script sentences for the Big5 messages (Big5 has no simplified characters).
ZH_HAM_TW = ["附件是{p}專案的報告初稿，請在{d}之前看一下第{n}節。", "下週三下午的會議能不能改到週四？",
             "測試伺服器上的建置又失敗了。", "麻煩核對一下第{n}號發票，金額和訂單對不上。", "客戶問交貨日期，我說最晚{d}。",
             "奶奶說謝謝你送的花，她晚上給你打電話。"]
ZH_HAM_TW_SUBJ = ["關於{p}專案的會議紀要", "回覆：發票問題", "週末聚餐", "本月預算"]
ZH_SPAM_TW = ["本公司長期代開各類發票，點數優惠，歡迎來電：{n}。", "恭喜您獲得{n}萬元大獎，請點擊連結領取：http://zj-{c}.example/",
              "無抵押低利貸款，當天撥款，額度{n}萬。", "您的銀行帳戶異常已被凍結，請立即登入驗證身分。",
              "在家兼職日賺{n}元，無需經驗，名額有限。", "線上賭場註冊就送{n}元彩金。"]
ZH_SPAM_TW_SUBJ = ["代開各類發票", "恭喜您中獎了！！！", "低利貸款，當天撥款", "您的帳戶已被凍結"]

def fill(s):
    return s.format(n=R.randint(2, 99), d=R.choice(["Monday", "Tuesday", "Friday", "June 3", "下周一", "月底"]),
                    p=R.choice(["Atlas", "Hermes", "北极星", "Orion", "凤凰"]), m=R.choice(["spring", "summer", "明年"]),
                    c=R.choice(["alpha", "bravo", "delta", "omega", "zeta"]))

HAM_FROM = ["alice@example.org", "bob@company.example", "李明 <liming@corp.example.cn>", "carol@uni.example.edu",
            "王芳 <wangfang@mail.example.cn>", "dave@family.example.net"]
SPAM_FROM = ["winner@lottery-{c}.example", "promo@deals{n}.example", "客服 <kefu{n}@fapiao.example>",
             "support@secure-{c}.example", "noreply@bonus{n}.example", "daili@wangzhuan{n}.example"]

def message(subj, body, frm, zh, i):
    # Chinese mail in the charsets Chinese clients use: GBK/GB18030 (mainland), Big5 (traditional), UTF-8.
    if zh:
        cs = ["utf-8", "gbk", "gb18030", "big5"][i % 4]
        body_b, subj_b = body.encode(cs, errors="replace"), subj.encode(cs, errors="replace")
        subj_h = "=?%s?B?%s?=" % (cs, base64.b64encode(subj_b).decode())
        cte = ["base64", "quoted-printable"][i % 2]
        enc = base64.encodebytes(body_b) if cte == "base64" else quopri.encodestring(body_b)
        enc = enc.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    else:
        cs, subj_h, cte, enc = "utf-8", subj, "8bit", body.encode().replace(b"\n", b"\r\n")
    frm_h = frm
    if not frm.isascii():
        name, addr = frm.split(" <")
        frm_h = "=?utf-8?B?%s?= <%s" % (base64.b64encode(name.encode()).decode(), addr)
    h = ("From: %s\r\nTo: user@example.com\r\nSubject: %s\r\nDate: Thu, 3 Dec 2026 10:%02d:00 +0800\r\n"
         "Message-ID: <%d@gen.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=%s\r\n"
         "Content-Transfer-Encoding: %s\r\n\r\n") % (frm_h, subj_h, i % 60, i, cs, cte)
    return h.encode() + enc

def gen(kind, n, en_subj, en, zh_subj0, zh0, froms, start):
    shutil.rmtree(kind, ignore_errors=True)
    os.makedirs(kind)
    for i in range(n):
        zh_msg = i % 2 == 1
        big5 = zh_msg and (start + i) % 4 == 3
        if big5:
            zh_subj, zh = (ZH_SPAM_TW_SUBJ, ZH_SPAM_TW) if kind == "spam" else (ZH_HAM_TW_SUBJ, ZH_HAM_TW)
        else:
            zh_subj, zh = zh_subj0, zh0
        subj = fill(R.choice(zh_subj if zh_msg else en_subj))
        lines = [fill(R.choice(zh if zh_msg else en)) for _ in range(R.randint(2, 7))]
        # Some overlap, as real mail has: ham mentions money, spam has ordinary words.
        if R.random() < 0.3:
            lines.append(fill(R.choice(en if zh_msg else zh0)))
        body = "\n".join(lines) + "\n"
        open(os.path.join(kind, "%04d.eml" % i), "wb").write(
            message(subj, body, fill(R.choice(froms)), zh_msg, start + i))

gen("ham", 300, EN_HAM_SUBJ, EN_HAM, ZH_HAM_SUBJ, ZH_HAM, HAM_FROM, 0)
gen("spam", 300, EN_SPAM_SUBJ, EN_SPAM, ZH_SPAM_SUBJ, ZH_SPAM, SPAM_FROM, 1000)
