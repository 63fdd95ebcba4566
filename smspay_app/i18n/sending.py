MESSAGES = {
    "sending.error.no_recipients": {
        "ja": "宛先が登録されていないため送信を開始できません。",
        "en": "This campaign has no recipients to send to.",
    },
    "sending.error.bad_status": {
        "ja": "この状態（{status}）のキャンペーンは送信を開始できません。",
        "en": "A campaign in status {status} cannot start sending.",
    },
    "sending.error.not_paused": {
        "ja": "一時停止中のキャンペーンだけ再開できます。",
        "en": "Only a paused campaign can be resumed.",
    },
    "sending.error.cannot_pause": {
        "ja": "予約中・送信中・対応中のキャンペーンだけ一時停止できます。",
        "en": "Only a scheduled, sending or active campaign can be paused.",
    },
    "sending.error.cannot_cancel": {
        "ja": "終了または中止済みのキャンペーンは中止できません。",
        "en": "A closed or cancelled campaign cannot be cancelled.",
    },
    "sending.error.end_past": {
        "ja": "終了日時は未来の日時を指定してください。",
        "en": "The closing time must be in the future.",
    },
    "sending.error.cannot_close": {
        "ja": "対応中または一時停止中のキャンペーンだけ終了できます（現在: {status}）。",
        "en": "Only an active or paused campaign can be closed (current status: {status}).",
    },
    "sending.error.cannot_reissue": {
        "ja": "この状態（{status}）の宛先にはリンクを再発行できません。",
        "en": "A link cannot be reissued for a recipient in status {status}.",
    },
    "sending.error.attempt_not_pending": {
        "ja": "この送信（{status}）はすでに事業者に渡っているため取り消せません。",
        "en": "This send ({status}) may already be with the provider and cannot be cancelled.",
    },
    "sending.paused.account_error": {
        "ja": (
            "SMS事業者がアカウントまたは送信元を拒否したため、送信を自動で一時停止しました"
            "（認証情報の誤り・変更、アカウント停止、無効な送信元番号など）。"
            "未送信の宛先は失敗にせず、送信待ちのまま残しています。"
            "設定を直してから「再開」を押すと、残りを一度ずつ送信します。"
        ),
        "en": (
            "Sending was paused automatically: the SMS provider refused the account or the sender"
            " (wrong or rotated credentials, suspended account, invalid sender number)."
            " No recipient was marked failed; the unsent ones are still queued."
            " Fix the setting, then press Resume: the rest are sent once each."
        ),
    },
    "sending.status.unknown": {
        "ja": "送信結果が不明です（自動再送はしません）。確認して必要なら再送してください。",
        "en": "Outcome unknown (never resent automatically). Check and resend if needed.",
    },
}
