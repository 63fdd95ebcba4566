"""Campaign editor (guided flow) and campaign page: texts added with the
authoring UI. Prefixes ``editor.``, ``campaign.``, ``detail.`` reach the browser."""

from smspay_app.domain.links import MAX_LIFETIME_DAYS, MIN_LIFETIME_HOURS
from smspay_app.domain.page_text import MESSAGE_PAGE_CHARS, PAGE_MESSAGE_MAX_CHARS

MESSAGES = {
    # service errors
    "campaign.error.schedule_past": {
        "ja": "送信日時は現在より後にしてください。",
        "en": "The send time must be in the future.",
    },
    "campaign.error.schedule_invalid": {
        "ja": "日時を読み取れません（年/月/日 時:分、例: 2026/12/10 18:00）。",
        "en": "The date and time cannot be read (YYYY/MM/DD HH:MM, e.g. 2026/12/10 18:00).",
    },
    "campaign.error.quiet_hours": {
        "ja": "送信しない時間帯は「21:00」のように開始と終了の両方を入力してください。",
        "en": "Enter both ends of the quiet hours, like 21:00.",
    },
    "campaign.error.line_invalid": {
        "ja": "請求明細の各行に品目・1以上の数量・0円以上の単価を入力してください。",
        "en": "Each invoice line needs an item, a quantity of 1 or more and a unit price of ¥0 or more.",
    },
    "campaign.error.too_many_lines": {"ja": "請求明細は20行までです。", "en": "At most 20 invoice lines."},
    "campaign.error.verification_mode": {
        "ja": "本人確認の方法が正しくありません。",
        "en": "Unknown identity check method.",
    },
    "campaign.error.otp_no_questions": {
        "ja": "SMS確認コード方式では質問は使いません。",
        "en": "The SMS one-time code method uses no questions.",
    },
    "campaign.error.not_editable": {
        "ja": "下書きのキャンペーンだけ編集できます。",
        "en": "Only a draft campaign can be edited.",
    },
    "campaign.error.questions_locked": {
        "ja": "宛先の取り込み後は本人確認の列と種類を変更できません（質問文は変更できます）。",
        "en": "After recipients are imported, the identity columns and types cannot change (the wording can).",
    },
    "campaign.error.due_date_invalid": {"ja": "支払期限を読み取れません。", "en": "The due date cannot be read."},
    "campaign.error.number_invalid": {"ja": "数値を入力してください。", "en": "Enter a number."},
    # pre-send checks
    "campaign.send.rows_unknown_field": {
        "ja": "差し込み項目「{field}」に対応する列がありません（{count}件の宛先）。SMS本文か取り込むCSVを直してください。",
        "en": "The merge field “{field}” matches no column ({count} recipients). Fix the SMS text or the CSV.",
    },
    "campaign.send.rows_missing_value": {
        "ja": "差し込み項目「{field}」の値が空の宛先が{count}件あります。",
        "en": "{count} recipients have no value for the merge field “{field}”.",
    },
    "campaign.send.over_cap": {
        "ja": "最長のSMSが{chars}文字で、携帯会社の上限{cap}文字を超えるため送信できません。本文を短くしてください。",
        "en": "The longest SMS has {chars} characters, over the carriers' limit of {cap}: it cannot be sent. Shorten the text.",
    },
    "campaign.send.no_amount": {
        "ja": "金額のない宛先が{count}件あります: {recipients}。キャンペーンの金額を入れるか、CSVの金額列で指定してください。",
        "en": "{count} recipients have no amount: {recipients}. Set the campaign's amount or give it in the CSV's amount column.",
    },
    "campaign.send.lines_mismatch": {
        "ja": "請求明細の合計は{total}ですが、金額が異なる宛先が{count}件あります: {recipients}。"
        "明細を削除するか、金額を明細の合計に揃えてください。",
        "en": "The invoice lines total {total}, but {count} recipients have another amount: {recipients}. "
        "Remove the lines or make the amounts match their total.",
    },
    "campaign.send.no_identity_check": {
        "ja": "本人確認の質問がありません。質問を追加するかSMS確認コード方式を選んでください。",
        "en": "No identity question. Add a question or choose the SMS one-time code.",
    },
    # editor: steps
    "editor.title_edit": {"ja": "キャンペーンの編集", "en": "Edit campaign"},
    "editor.step.1": {"ja": "基本と送信設定", "en": "Basics & sending"},
    "editor.step.2": {"ja": "SMS本文", "en": "SMS text"},
    "editor.step.3": {"ja": "表示ページ", "en": "Recipient page"},
    "editor.step.4": {"ja": "本人確認", "en": "Identity check"},
    "editor.step.5": {"ja": "確認", "en": "Review"},
    "editor.next": {"ja": "次へ", "en": "Next"},
    "editor.back": {"ja": "戻る", "en": "Back"},
    "editor.save": {"ja": "保存する", "en": "Save"},
    "editor.step_errors": {"ja": "この手順に入力の誤りがあります。", "en": "This step has problems."},
    # editor: sending options
    "editor.send_when": {"ja": "送信のタイミング", "en": "When to send"},
    "editor.send_now": {
        "ja": "キャンペーン画面で「送信する」を押した時",
        "en": "When I press “Send” on the campaign page",
    },
    "editor.send_at": {"ja": "日時を指定して予約", "en": "At a set time"},
    "editor.scheduled_at": {"ja": "送信日時（{tz}）", "en": "Send time ({tz})"},
    "editor.lifetime_unit": {"ja": "有効期間の単位", "en": "Unit"},
    "editor.unit.hours": {"ja": "時間", "en": "hours"},
    "editor.unit.days": {"ja": "日", "en": "days"},
    "editor.lifetime.help": {
        "ja": f"{MIN_LIFETIME_HOURS}時間から{MAX_LIFETIME_DAYS}日まで。期限を過ぎたリンクは開けません。",
        "en": f"From {MIN_LIFETIME_HOURS} hour to {MAX_LIFETIME_DAYS} days. Expired links no longer open.",
    },
    "editor.quiet": {"ja": "送信しない時間帯（夜間）", "en": "Quiet hours (no SMS at night)"},
    "editor.quiet.org": {
        "ja": "組織の設定を使う（{start}〜{end}）",
        "en": "Use the organisation setting ({start}–{end})",
    },
    "editor.quiet.override": {"ja": "このキャンペーンだけ変更する", "en": "Override for this campaign"},
    "editor.quiet.help": {
        "ja": "この時間帯のSMSは送らずに保留し、時間帯が終わってから送ります。",
        "en": "SMS due in this window are held and sent when it ends.",
    },
    "editor.quiet.start": {"ja": "開始", "en": "From"},
    "editor.quiet.end": {"ja": "終了", "en": "Until"},
    # editor: SMS
    "editor.fields": {
        "ja": "使っている差し込み項目: {fields}（取り込むCSVにこの列が必要です）",
        "en": "Merge fields used: {fields} (the CSV needs these columns)",
    },
    "editor.page_message.limit": {
        "ja": f"最大{PAGE_MESSAGE_MAX_CHARS:,}文字。長いメッセージは約{MESSAGE_PAGE_CHARS:,}文字ずつのページに分けて表示します（ガラケーでも読めるように）。",
        "en": f"At most {PAGE_MESSAGE_MAX_CHARS:,} characters. A long message is shown in pages of about "
        f"{MESSAGE_PAGE_CHARS:,} characters (so that feature phones can load it).",
    },
    "editor.fields.none": {"ja": "差し込み項目はありません。", "en": "No merge fields."},
    "editor.fields.hint": {
        "ja": "使える項目: {{name}}（氏名）・{{amount}}（金額）・{{due_date}}（支払期限）・{{customer_number}}（顧客番号）・CSVの列名そのまま",
        "en": "Available: {{name}}, {{amount}}, {{due_date}}, {{customer_number}}, or any CSV header as written",
    },
    "editor.preview.sample": {
        "ja": "見本の値でのプレビュー（宛先取り込み前）",
        "en": "Preview with sample values (no recipients yet)",
    },
    "editor.preview.page": {"ja": "受信者のページ（プレビュー）", "en": "Recipient page (preview)"},
    "editor.preview.page_sample": {
        "ja": "受信者の言語・見本の値でのプレビュー（本人確認のあとに表示される画面）",
        "en": "In the recipients' language with sample values (shown after the identity check)",
    },
    "editor.preview.segments": {"ja": "{segments}通分・{chars}文字", "en": "{segments} SMS · {chars} characters"},
    "editor.preview.real": {"ja": "{row}行目の宛先のデータでのプレビュー", "en": "Preview with the data of row {row}"},
    # Sample merge values in the preview before any recipients are imported.
    "editor.preview.sample_name": {"ja": "山田 太郎", "en": "Taro Yamada"},
    "editor.preview.sample_value": {"ja": "ああああああああああああああああああああ", "en": "Sample value"},
    "editor.cost_worst": {
        "ja": "最長の宛先: {chars}文字・{segments}通分 ／ 全{rows}件で{total}通分・概算{cost}円",
        "en": "Longest message: {chars} characters, {segments} SMS / all {rows} recipients: {total} SMS, about ¥{cost}",
    },
    "editor.cost_sample": {
        "ja": "1件あたり{segments}通分・概算{cost}円（1通{price}円）",
        "en": "{segments} SMS per recipient, about ¥{cost} (¥{price} per SMS)",
    },
    "editor.link_added": {
        "ja": "リンク {{link}} が本文に無いため、末尾に自動で追加されます。",
        "en": "There is no {{link}} in the text, so the link will be added at the end.",
    },
    "editor.template_problem": {"ja": "本文の誤り: {message}", "en": "Problem in the text: {message}"},
    # editor: page
    "editor.page_kind": {"ja": "ページの種類", "en": "Kind of page"},
    "editor.page_kind.payment": {"ja": "請求（支払いを受け付ける）", "en": "Invoice (take a payment)"},
    "editor.page_kind.notice": {"ja": "お知らせのみ（支払いなし）", "en": "Notice only (no payment)"},
    "editor.notice.help": {
        "ja": "来店予約・順番のお呼び出し・更新のご案内など。メッセージを表示して終わります。",
        "en": "For appointment reminders, waiting-room calls, renewal notices and the like. The recipient sees the message and nothing more.",
    },
    "editor.read_confirmation": {
        "ja": "「確認しました」ボタンを表示し、確認を記録する",
        "en": "Show an “I have read this” button and record it",
    },
    "editor.invoice_lines": {"ja": "請求明細（任意）", "en": "Invoice lines (optional)"},
    "editor.line.item": {"ja": "品目", "en": "Item"},
    "editor.line.quantity": {"ja": "数量", "en": "Qty"},
    "editor.line.unit_price": {"ja": "単価（円）", "en": "Unit price (¥)"},
    "editor.line.add": {"ja": "明細を追加", "en": "Add a line"},
    "editor.line.remove": {"ja": "削除", "en": "Remove"},
    "editor.lines_total": {"ja": "明細の合計: {total}", "en": "Lines total: {total}"},
    "editor.amount.lines_help": {
        "ja": "空欄なら明細の合計を使います。CSVに「金額」列があれば宛先ごとにその値を使います。",
        "en": "Leave empty to use the total of the lines. An “amount” column in the CSV sets it per recipient.",
    },
    "editor.due_date": {"ja": "支払期限（任意）", "en": "Due date (optional)"},
    # editor: identity
    "editor.verification": {"ja": "本人確認の方法", "en": "Identity check method"},
    "editor.verification.questions": {"ja": "質問に答える（最大4問）", "en": "Answer questions (up to 4)"},
    "editor.verification.otp": {"ja": "SMSで届く確認コード", "en": "One-time code by SMS"},
    "editor.otp.help": {
        "ja": "リンクを開いた人に6桁のコードをSMSで送り、入力してもらいます（10分間有効・5回まで）。",
        "en": "A 6-digit code is sent by SMS to the person who opened the link (valid 10 minutes, 5 tries).",
    },
    "editor.question.add": {"ja": "質問を追加", "en": "Add a question"},
    "editor.question.remove": {"ja": "削除", "en": "Remove"},
    "editor.question.n": {"ja": "質問{n}", "en": "Question {n}"},
    "editor.question.help": {
        "ja": "正解はCSVの列から取り込み、ハッシュ化して保存します。誰にも表示されません。",
        "en": "Answers come from a CSV column and are stored hashed. Nobody can see them.",
    },
    "editor.question.max": {"ja": "質問は4つまでです。", "en": "Up to 4 questions."},
    # editor: review
    "editor.review.name": {"ja": "キャンペーン名", "en": "Name"},
    "editor.review.send": {"ja": "送信", "en": "Sending"},
    "editor.review.page": {"ja": "表示ページ", "en": "Page"},
    "editor.review.identity": {"ja": "本人確認", "en": "Identity"},
    "editor.review.question": {"ja": "{label}（{column}・{kind}）", "en": "{label} ({column}, {kind})"},
    "editor.review.sms": {"ja": "SMS", "en": "SMS"},
    "editor.review.ready": {
        "ja": "保存できます。保存後、キャンペーン画面で宛先CSVを取り込んで送信します。",
        "en": "Ready to save. After saving, import the recipient CSV and send from the campaign page.",
    },
    "editor.saved": {"ja": "保存しました。", "en": "Saved."},
    # campaign page
    "detail.edit": {"ja": "編集", "en": "Edit"},
    "detail.schedule": {"ja": "予約する", "en": "Schedule"},
    "detail.pause": {"ja": "一時停止", "en": "Pause"},
    "detail.resume": {"ja": "再開", "en": "Resume"},
    "detail.cancel": {"ja": "送信を中止", "en": "Cancel sending"},
    "detail.cancel_confirm": {
        "ja": "未送信のSMS（リマインダー、配信時間帯待ちを含む）をすべて取り消します。元に戻せません。",
        "en": "All SMS not yet sent (reminders and messages held for quiet hours included) will be cancelled. This cannot be undone.",
    },
    "detail.cancel_yes": {"ja": "中止する", "en": "Cancel sending"},
    "detail.cancel_no": {"ja": "やめる", "en": "Keep"},
    "detail.paused": {"ja": "一時停止しました。", "en": "Paused."},
    "detail.resumed": {"ja": "再開しました。", "en": "Resumed."},
    "detail.close": {"ja": "終了する", "en": "Close"},
    "detail.closes_label": {"ja": "終了日時", "en": "Closes at"},
    "detail.closes_save": {"ja": "終了日時を保存", "en": "Save closing time"},
    "detail.closes_at": {"ja": "{at} に自動で終了します", "en": "Closes automatically at {at}"},
    "detail.closes_saved": {"ja": "終了日時を保存しました。", "en": "Closing time saved."},
    "detail.closes_cleared": {
        "ja": "終了日時を解除しました（手動で終了します）。",
        "en": "Closing time removed (close it yourself).",
    },
    "detail.closed": {
        "ja": "キャンペーンを終了しました（{count}件の未送信を取り消し）。",
        "en": "Campaign closed ({count} queued messages withdrawn).",
    },
    "detail.cancelled": {
        "ja": "送信を中止しました（{count}件を取り消し）。",
        "en": "Sending cancelled ({count} messages withdrawn).",
    },
    "detail.scheduled": {
        "ja": "{at} に送信を予約しました（{count}件）。",
        "en": "Scheduled for {at}: {count} SMS.",
    },
    "detail.check.title": {"ja": "送信前の確認", "en": "Before sending"},
    "detail.check.ok": {"ja": "送信できます。", "en": "Ready to send."},
    "detail.check.blocked": {"ja": "次の理由で送信できません:", "en": "Cannot send yet:"},
    "detail.check.bullet": {"ja": "・", "en": "• "},
    "detail.check.worst": {
        "ja": "最長のSMS: {chars}文字・{segments}通分（{encoding}）",
        "en": "Longest SMS: {chars} characters, billed as {segments} SMS ({encoding})",
    },
    "detail.check.cost": {
        "ja": "全{rows}件で{total}通分・概算{cost}円（1通{price}円）",
        "en": "{rows} recipients: {total} segments, about ¥{cost} (¥{price} per segment)",
    },
    "detail.check.none": {
        "ja": "宛先を取り込むと、全宛先での最長のSMSと費用を表示します。",
        "en": "Import recipients to see the longest SMS and the cost over all of them.",
    },
    "detail.schedule_at": {"ja": "送信日時（{tz}）", "en": "Send time ({tz})"},
    "detail.scheduled_for": {"ja": "予約日時: {at}", "en": "Scheduled for {at}"},
    # import with mapping
    "detail.upload.read": {"ja": "ファイルを読み込む", "en": "Read file"},
    "detail.mapping.title": {"ja": "列の割り当て", "en": "Column mapping"},
    "detail.mapping.help": {
        "ja": "{rows}行・文字コード {encoding}。見出しから割り当てを提案しました。違っていれば選び直してください。",
        "en": "{rows} rows, encoding {encoding}. Mapping suggested from the headers; change it where it is wrong.",
    },
    "detail.mapping.none": {"ja": "（使わない）", "en": "(not used)"},
    "detail.mapping.preview": {"ja": "先頭5行", "en": "First 5 rows"},
    "detail.mapping.confirm": {"ja": "この割り当てで取り込む", "en": "Import with this mapping"},
    "detail.mapping.discard": {"ja": "やめる", "en": "Discard"},
    "detail.field.phone": {"ja": "電話番号（必須）", "en": "Phone (required)"},
    "detail.field.name": {"ja": "氏名", "en": "Name"},
    "detail.field.amount": {"ja": "金額", "en": "Amount"},
    "detail.field.lines": {"ja": "明細（宛先ごと）", "en": "Invoice lines (per recipient)"},
    "detail.field.due_date": {"ja": "支払期限", "en": "Due date"},
    "detail.field.customer_number": {"ja": "顧客番号", "en": "Customer number"},
    "detail.field.birth_date": {"ja": "生年月日", "en": "Date of birth"},
    "detail.field.postcode": {"ja": "郵便番号", "en": "Postcode"},
    "detail.import.progress": {"ja": "取り込み中… {done} / {total} 行", "en": "Importing… {done} / {total} rows"},
    "detail.import.download": {"ja": "エラー一覧をダウンロード（CSV）", "en": "Download the error list (CSV)"},
    "detail.import.more": {
        "ja": "先頭{shown}件を表示（全{total}件）。すべてはダウンロードで確認できます。",
        "en": "Showing the first {shown} of {total}. Download the list to see them all.",
    },
    "detail.import.expired": {
        "ja": "アップロードしたファイルの有効期限が切れました。もう一度選んでください。",
        "en": "The uploaded file has expired. Please choose it again.",
    },
    "detail.import.busy": {
        "ja": "取り込み中です。終わるまでお待ちください。",
        "en": "An import is running; please wait for it to finish.",
    },
    # quiet hours at send time and the send confirmation (issue 15 items 1, 2)
    "detail.check.wait": {
        "ja": "配信停止時間帯のため、{count}件のSMSは {until}（{tz}）まで送信を待ちます。",
        "en": "Quiet hours: {count} SMS will wait until {until} ({tz}).",
    },
    "detail.confirm.title": {"ja": "この内容で送信しますか？", "en": "Send this campaign?"},
    "detail.confirm.recipients": {"ja": "宛先: {count}件", "en": "Recipients: {count}"},
    "detail.confirm.sms": {"ja": "SMS: {count}通分", "en": "SMS: {count} messages (billed parts)"},
    "detail.confirm.cost": {"ja": "概算費用: {cost}", "en": "Estimated cost: {cost}"},
    "detail.confirm.starts": {"ja": "送信開始: {at}（{tz}）", "en": "Sending starts: {at} ({tz})"},
    "detail.confirm.yes": {"ja": "送信する", "en": "Send"},
    "detail.confirm.yes_wait": {"ja": "時間帯の終了後に送信する", "en": "Send when quiet hours end"},
    "detail.confirm.no": {"ja": "やめる", "en": "Back"},
    "detail.send_now.title": {"ja": "時間帯を無視して今すぐ送信", "en": "Send now anyway"},
    "detail.send_now.hint": {
        "ja": "配信停止時間帯でもすぐに送信します。理由を記録します（必須）。",
        "en": "Sends at once despite the quiet hours. The reason is recorded (required).",
    },
    "detail.send_now.reason": {"ja": "理由（例: お客様のご依頼）", "en": "Reason (e.g. the customer asked)"},
    "detail.send_now.yes": {"ja": "今すぐ送信する", "en": "Send now"},
    "detail.send_now.held": {
        "ja": "{count}件のSMSが配信停止時間帯のため {until} まで保留中です。",
        "en": "{count} SMS are held for quiet hours until {until}.",
    },
    "detail.send_now.done": {"ja": "保留中の{count}件を今すぐ送信します。", "en": "Sending the {count} held SMS now."},
    "campaign.error.recipient_language": {
        "ja": "宛先の言語は日本語か英語を選んでください。",
        "en": "Choose Japanese or English as the recipients' language.",
    },
    "campaign.error.tax_rate": {
        "ja": "明細の税率は10%か8%（軽減税率）です。",
        "en": "A line's tax rate is 10% or 8% (reduced rate).",
    },
    "editor.recipient_language": {"ja": "宛先の言語", "en": "Recipients' language"},
    "editor.recipient_language.help": {
        "ja": "SMSと支払いページの既定の文面はこの言語になります（画面の言語ではありません）。",
        "en": "The default SMS and page texts are in this language (not the language of this screen).",
    },
    # what operators read instead of "UCS-2" / "GSM-7" (issue 15 item 8)
    "sms.encoding.UCS-2": {"ja": "日本語（全角）", "en": "Japanese characters"},
    "sms.encoding.GSM-7": {"ja": "半角英数字のみ", "en": "Plain Latin characters"},
    "editor.preview.sample.amount": {"ja": "3,300", "en": "3,300"},
    "editor.preview.sample.due_date": {"ja": "12月25日", "en": "Dec 25"},
    "editor.preview.sample.customer_number": {"ja": "100234", "en": "100234"},
}
