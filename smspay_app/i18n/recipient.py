"""Text of the recipient pages (short link, identity check, message, payment)."""

MESSAGES = {
    "recipient.lang_switch": {"ja": "English", "en": "日本語"},
    # The opt-out link (every page; works without JavaScript)
    "recipient.optout_link": {"ja": "今後のSMSの配信停止", "en": "Stop these SMS"},
    "recipient.optout_title": {"ja": "SMSの配信停止", "en": "Stop SMS"},
    "recipient.optout_confirm": {
        "ja": "{org} からのSMS（お支払いのご案内・リマインダー）をこの電話番号に今後送らないようにします。よろしいですか。",
        "en": "{org} will no longer send SMS (payment requests, reminders) to this phone number. Continue?",
    },
    "recipient.optout_button": {"ja": "配信を停止する", "en": "Stop the SMS"},
    "recipient.optout_done": {
        "ja": "配信を停止しました。{org} からこの電話番号へのSMSは今後送られません。",
        "en": "Done. {org} will send no more SMS to this phone number.",
    },
    "recipient.optout_sms_note": {"ja": "配信停止はリンク先から", "en": "To stop these SMS, open the link"},
    "recipient.secure_note": {
        "ja": "このページは {org} からのご案内です。",
        "en": "This page is sent to you by {org}.",
    },
    "recipient.contact": {
        "ja": "お問い合わせ: {org}（電話 {phone}）",
        "en": "Questions? Contact {org} (phone {phone}).",
    },
    "recipient.contact_nophone": {
        "ja": "お問い合わせは {org} までお願いします。",
        "en": "Questions? Please contact {org}.",
    },
    # Link problems
    "recipient.unknown_title": {"ja": "ページが見つかりません", "en": "Page not found"},
    "recipient.unknown_body": {
        "ja": "このリンクは無効です。SMSに記載されたリンクを、もう一度最後までそのまま開いてください。"
        "解決しない場合は、SMSを送った会社にお問い合わせください。",
        "en": "This link is not valid. Please open the link from your SMS again, exactly as written. "
        "If that does not help, contact the company that sent you the SMS.",
    },
    "recipient.expired_title": {"ja": "リンクの有効期限が切れています", "en": "This link has expired"},
    "recipient.expired_body": {
        "ja": "安全のため、このリンクは期限切れになりました。新しいリンクの送信をご希望の場合はお問い合わせください。",
        "en": "For your security this link has expired. Contact us to get a new link.",
    },
    "recipient.revoked_title": {"ja": "このリンクは使用できません", "en": "This link is no longer valid"},
    "recipient.revoked_body": {
        "ja": "このリンクは無効になりました。新しいリンクが届いている場合は、そちらをご利用ください。",
        "en": "This link has been withdrawn. If you received a newer link, please use that one.",
    },
    "recipient.locked_title": {"ja": "ロックされています", "en": "This link is locked"},
    "recipient.locked_body": {
        "ja": "本人確認の誤りが続いたため、安全のためこのリンクをロックしました。お手数ですがお問い合わせください。",
        "en": "Too many unsuccessful identity checks: for your security this link is locked. Please contact us.",
    },
    "recipient.cross_site": {
        "ja": "この操作は受け付けられませんでした。SMSに記載されたリンクを開いて、そのページから操作してください。",
        "en": "This request was not accepted. Please open the link from your SMS and use that page.",
    },
    "recipient.rate_limited": {
        "ja": "短時間にたくさんの操作がありました。1分ほど待ってからもう一度お試しください。",
        "en": "Too many attempts in a short time. Please wait a minute and try again.",
    },
    "recipient.session_expired": {
        "ja": "一定時間が経過したため、もう一度本人確認をお願いします。",
        "en": "Your session has ended. Please confirm your identity again.",
    },
    "recipient.undecodable": {
        "ja": "入力内容を読み取れませんでした（文字コード）。回数には数えていません。もう一度入力してください。",
        "en": "We could not read what was sent (character encoding). It was not counted; please enter it again.",
    },
    "recipient.trust": {
        "ja": "{sender}{org}から「{reason}」についてのご案内です。ご本人確認のため、登録内容をおたずねします。"
        "心当たりのない場合は入力せず、{org}（{phone}）にお問い合わせください。",
        "en": "{sender}This is {org} writing about “{reason}”. To confirm it is you, we ask for details we hold. "
        "If you do not expect this, enter nothing and call {org} ({phone}).",
    },
    "recipient.trust_nophone": {
        "ja": "{sender}{org}から「{reason}」についてのご案内です。ご本人確認のため、登録内容をおたずねします。"
        "心当たりのない場合は入力しないでください。",
        "en": "{sender}This is {org} writing about “{reason}”. To confirm it is you, we ask for details we hold. "
        "If you do not expect this, enter nothing.",
    },
    "recipient.trust_official_url": {
        "ja": "送信元は公式サイト {url} でもご確認いただけます。",
        "en": "You can also check the sender on its official website, {url}.",
    },
    "recipient.error_summary": {"ja": "入力内容をご確認ください", "en": "Please check what you entered"},
    # Identity check
    "recipient.verify_title": {"ja": "ご本人確認", "en": "Identity check"},
    "recipient.verify_intro": {
        "ja": "ご案内を表示する前に、ご本人であることを確認します。",
        "en": "Before we show your message, please confirm who you are.",
    },
    "recipient.verify_button": {"ja": "確認する", "en": "Confirm"},
    "recipient.continue_button": {"ja": "内容を見る", "en": "View message"},
    "recipient.continue_intro": {
        "ja": "下のボタンを押すとご案内が表示されます。",
        "en": "Press the button below to see your message.",
    },
    "recipient.wrong_answer": {
        "ja": "入力内容が登録情報と一致しませんでした。もう一度ご確認ください（あと{left}回でロックされます）。",
        "en": "The details you entered do not match our records. Please check and try again "
        "({left} attempts left before the link locks).",
    },
    "recipient.hint_date": {"ja": "例: 1980/01/02", "en": "e.g. 1980/01/02"},
    "recipient.hint_digits": {"ja": "数字で入力", "en": "Digits"},
    # One-time code
    "recipient.otp_intro": {
        "ja": "ご登録の電話番号にSMSで6桁の確認コードを送ります。",
        "en": "We will send a 6-digit code by SMS to your registered phone number.",
    },
    "recipient.otp_send_button": {"ja": "確認コードを送る", "en": "Send me a code"},
    "recipient.otp_resend_button": {"ja": "コードを再送する", "en": "Send a new code"},
    "recipient.otp_code_label": {"ja": "確認コード（6桁）", "en": "Code (6 digits)"},
    "recipient.otp_sent": {
        "ja": "確認コードをSMSで送りました。{minutes}分以内に入力してください。",
        "en": "We sent you a code by SMS. Enter it within {minutes} minutes.",
    },
    "recipient.otp_cooldown": {
        "ja": "コードの再送は{seconds}秒後にできます。",
        "en": "You can ask for a new code in {seconds} seconds.",
    },
    "recipient.otp_cap": {
        "ja": "コードの送信回数の上限に達しました。お問い合わせください。",
        "en": "No more codes can be sent for this link. Please contact us.",
    },
    "recipient.otp_failed": {
        "ja": "コードを送信できませんでした。時間をおいてもう一度お試しください。",
        "en": "We could not send the code. Please try again shortly.",
    },
    "recipient.otp_wrong": {
        "ja": "確認コードが違います（このコードはあと{left}回入力できます）。",
        "en": "That code is not right ({left} tries left for this code).",
    },
    "recipient.otp_expired": {
        "ja": "確認コードの有効期限が切れました。新しいコードを送ってください。",
        "en": "The code has expired. Please ask for a new one.",
    },
    "recipient.otp_no_code": {
        "ja": "まず確認コードを送ってください。",
        "en": "Please ask for a code first.",
    },
    "recipient.otp_too_many": {
        "ja": "このコードは入力回数の上限に達しました。新しいコードを送ってください。",
        "en": "Too many tries for this code. Please ask for a new one.",
    },
    "recipient.otp_sms": {
        "ja": "{prefix}確認コード: {code}（{minutes}分間有効）。このコードを他人に教えないでください。",
        "en": "{prefix}Your code: {code} (valid {minutes} min). Never share it.",
    },
    # Message / invoice
    "recipient.invoice": {"ja": "ご請求内容", "en": "Invoice"},
    "recipient.col_item": {"ja": "品目", "en": "Item"},
    "recipient.col_qty": {"ja": "数量", "en": "Qty"},
    "recipient.col_unit": {"ja": "単価", "en": "Unit price"},
    "recipient.col_total": {"ja": "金額", "en": "Amount"},
    "recipient.total": {"ja": "お支払い金額（税込）", "en": "Total due"},
    "recipient.partial_paid": {
        "ja": "うち {paid} は入金済みです。残りのお支払いは {rest} です。",
        "en": "{paid} of it has been paid already; {rest} is left to pay.",
    },
    "recipient.due": {"ja": "お支払い期限: {date}", "en": "Due date: {date}"},
    "recipient.pay_button": {"ja": "お支払いへ進む", "en": "Go to payment"},
    "recipient.pay_note": {
        "ja": "決済会社の安全なページに移動します（カード・銀行口座・コンビニ払い）。",
        "en": "You will go to our payment provider's secure page (card, bank account, convenience store).",
    },
    "recipient.read_button": {"ja": "内容を確認しました", "en": "I have read this"},
    "recipient.read_done": {"ja": "確認ありがとうございました。", "en": "Thank you for confirming."},
    "recipient.notice_end": {
        "ja": "ご案内は以上です。このページを閉じてください。",
        "en": "That is all. You may close this page.",
    },
    # Payment outcomes
    "recipient.paid_title": {"ja": "お支払いありがとうございました", "en": "Thank you for your payment"},
    "recipient.receipt": {
        "ja": "お支払い完了: {amount}（{date}）",
        "en": "Paid: {amount} ({date})",
    },
    "recipient.duplicate_refunded": {
        "ja": "二重にお支払いいただいた{amount}は自動で返金しました。",
        "en": "You paid twice: {amount} was refunded automatically.",
    },
    "recipient.refunded": {"ja": "{amount}を返金しました。", "en": "{amount} was refunded."},
    "recipient.processing_title": {"ja": "お支払い手続き中です", "en": "Payment in progress"},
    "recipient.voucher_konbini_title": {"ja": "コンビニでのお支払い", "en": "Pay at a convenience store"},
    "recipient.voucher_konbini_intro": {
        "ja": "下記のお店のレジで、確認番号とお支払い番号をお伝えください。",
        "en": "At the counter of one of these stores, give the confirmation number and the payment code.",
    },
    "recipient.col_store": {"ja": "お店", "en": "Store"},
    "recipient.col_confirmation": {"ja": "確認番号", "en": "Confirmation number"},
    "recipient.col_payment_code": {"ja": "お支払い番号", "en": "Payment code"},
    "recipient.store_familymart": {"ja": "ファミリーマート", "en": "FamilyMart"},
    "recipient.store_lawson": {"ja": "ローソン", "en": "Lawson"},
    "recipient.store_ministop": {"ja": "ミニストップ", "en": "Ministop"},
    "recipient.store_seicomart": {"ja": "セイコーマート", "en": "Seicomart"},
    "recipient.store_seveneleven": {"ja": "セブン-イレブン", "en": "7-Eleven"},
    "recipient.store_dailyyamazaki": {"ja": "デイリーヤマザキ", "en": "Daily Yamazaki"},
    "recipient.voucher_payeasy_title": {"ja": "ペイジーでのお支払い", "en": "Pay with Pay-easy"},
    "recipient.voucher_payeasy_intro": {
        "ja": "銀行ATMまたはネットバンキングの「ペイジー」で、下記の番号を入力してください。",
        "en": "At a bank ATM or in online banking, choose Pay-easy and enter these numbers.",
    },
    "recipient.payeasy_bank_id": {"ja": "収納機関番号", "en": "Biller number"},
    "recipient.payeasy_customer_id": {"ja": "お客様番号", "en": "Customer number"},
    "recipient.payeasy_confirmation_id": {"ja": "確認番号", "en": "Confirmation number"},
    "recipient.voucher_sms_payeasy": {
        "ja": "{prefix}ペイジー {amount} 収納機関番号{bank} お客様番号{customer} 確認番号{confirmation}",
        "en": "{prefix}Pay-easy {amount}: biller {bank}, customer {customer}, confirmation {confirmation}",
    },
    "recipient.voucher_bank_title": {"ja": "銀行振込でのお支払い", "en": "Pay by bank transfer"},
    "recipient.voucher_bank_intro": {
        "ja": "下記の口座へ、ちょうどの金額をお振り込みください。",
        "en": "Transfer exactly this amount to the account below.",
    },
    "recipient.bank_name": {"ja": "銀行名", "en": "Bank"},
    "recipient.bank_branch": {"ja": "支店名", "en": "Branch"},
    "recipient.bank_account": {"ja": "口座番号", "en": "Account"},
    "recipient.bank_holder": {"ja": "口座名義", "en": "Account holder"},
    "recipient.bank_amount": {"ja": "振込金額", "en": "Amount"},
    "recipient.account_futsu": {"ja": "普通", "en": "Ordinary"},
    "recipient.account_toza": {"ja": "当座", "en": "Current"},
    "recipient.voucher_deadline": {"ja": "お支払い期限: {date}", "en": "Pay by: {date}"},
    "recipient.voucher_amount": {"ja": "お支払い金額: {amount}", "en": "Amount to pay: {amount}"},
    "recipient.voucher_link": {"ja": "払込票を表示", "en": "Show the voucher"},
    "recipient.voucher_sms_button": {"ja": "この内容をSMSで受け取る", "en": "Send me this by SMS"},
    # A long message in parts (issue 14)
    "recipient.part_of": {"ja": "{parts}ページ中{part}ページ目", "en": "Page {part} of {parts}"},
    "recipient.part_next": {"ja": "次のページへ", "en": "Next page"},
    "recipient.part_previous": {"ja": "前のページへ", "en": "Previous page"},
    "recipient.parts_label": {"ja": "ページの移動", "en": "Pages"},
    # The voucher route (issue 14): paying without the gateway's card page
    "recipient.voucher_route_link": {
        "ja": "コンビニ・銀行振込で払う（カード画面を使わない）",
        "en": "Pay at a convenience store or by bank transfer (no card page)",
    },
    "recipient.voucher_route_title": {"ja": "お支払い方法を選ぶ", "en": "Choose how to pay"},
    "recipient.voucher_route_intro": {
        "ja": "{amount}のお支払い番号をこのページでお知らせします。",
        "en": "This page will show you the numbers to pay {amount}.",
    },
    "recipient.voucher_konbini_form": {
        "ja": "コンビニで払う（お名前とメールアドレスが必要です）",
        "en": "Pay at a convenience store (your name and e-mail address are needed)",
    },
    "recipient.voucher_konbini_button": {"ja": "コンビニ払いの番号を受け取る", "en": "Get the store payment numbers"},
    "recipient.voucher_bank_form": {"ja": "銀行振込で払う", "en": "Pay by bank transfer"},
    "recipient.voucher_bank_button": {"ja": "振込先を受け取る", "en": "Get the bank account"},
    "recipient.payer_name": {"ja": "お名前", "en": "Name"},
    "recipient.payer_email": {"ja": "メールアドレス", "en": "E-mail address"},
    "recipient.payer_email_hint": {
        "ja": "決済会社から控えが届きます。例: taro@docomo.ne.jp",
        "en": "The payment provider sends a copy there. e.g. taro@example.jp",
    },
    "recipient.payer_name_required": {"ja": "お名前を入力してください。", "en": "Please enter your name."},
    "recipient.payer_email_invalid": {
        "ja": "メールアドレスを正しく入力してください（例: taro@docomo.ne.jp）。",
        "en": "Please enter a valid e-mail address (e.g. taro@example.jp).",
    },
    "recipient.method_unavailable": {
        "ja": "この方法ではお支払いいただけません。別の方法をお選びください。",
        "en": "This method is not available. Please choose another.",
    },
    "sms.opt_out_confirmation": {
        "ja": "{prefix}配信停止を受け付けました。今後{org}からのSMSはお送りしません。",
        "en": "{prefix}You have opted out. {org} will send you no more SMS.",
    },
    "recipient.voucher_sms_sent": {"ja": "お支払い方法をSMSでお送りしました。", "en": "We sent these details by SMS."},
    "recipient.voucher_sms_cap": {
        "ja": "SMSの送信回数の上限に達しました。",
        "en": "The SMS has already been sent as many times as allowed.",
    },
    "recipient.voucher_sms_failed": {
        "ja": "SMSを送れませんでした。しばらくしてからお試しください。",
        "en": "The SMS could not be sent. Please try again later.",
    },
    "recipient.voucher_sms_konbini": {
        "ja": "{prefix}コンビニ払い {amount}",
        "en": "{prefix}Convenience store payment {amount}",
    },
    "recipient.voucher_sms_store": {
        "ja": "{store} 確認番号{confirmation} お支払い番号{code}",
        "en": "{store}: confirmation {confirmation}, code {code}",
    },
    "recipient.voucher_sms_bank": {"ja": "{prefix}銀行振込 {amount}", "en": "{prefix}Bank transfer {amount}"},
    "recipient.voucher_expired": {
        "ja": "お支払い期限が過ぎました。もう一度お支払い方法をお選びください。",
        "en": "The payment deadline has passed. Please choose a payment method again.",
    },
    "recipient.processing_body": {
        "ja": "お支払いの完了を確認中です。コンビニ払いの場合は、案内に従って店頭でお支払いください。完了するとこのページに表示されます。",
        "en": "We are waiting for confirmation of your payment. For convenience store payment, "
        "please pay at the store as instructed; this page will show it once it is done.",
    },
    "recipient.waiting_title": {"ja": "確認しています…", "en": "Checking your payment…"},
    "recipient.waiting_body": {
        "ja": "決済会社からの確認をお待ちしています。このページは自動で更新されます。",
        "en": "We are waiting for the payment provider's confirmation. This page refreshes by itself.",
    },
    "recipient.reload": {"ja": "更新する", "en": "Refresh"},
    "recipient.failed_title": {"ja": "お支払いが完了しませんでした", "en": "The payment did not go through"},
    "recipient.failed_body": {
        "ja": "お支払いは完了していません。もう一度お試しいただくか、別のお支払い方法をお選びください。",
        "en": "Your payment was not completed. Please try again or choose another method.",
    },
    "recipient.cancelled_title": {"ja": "お支払いを中断しました", "en": "Payment cancelled"},
    "recipient.cancelled_body": {
        "ja": "お支払いはまだ完了していません。準備ができたら、もう一度お支払いへお進みください。",
        "en": "You have not paid yet. When you are ready, you can go to payment again.",
    },
    "recipient.back": {"ja": "ご案内に戻る", "en": "Back to the message"},
    "recipient.gateway_error": {
        "ja": "決済ページを開けませんでした。時間をおいてもう一度お試しください。",
        "en": "We could not open the payment page. Please try again in a moment.",
    },
    "recipient.nothing_to_pay": {
        "ja": "お支払いいただく金額はありません。",
        "en": "There is nothing to pay.",
    },
}
