"""REST API error messages (``api.error.<code>``), picked by Accept-Language."""

MESSAGES = {
    "api.error.unauthenticated": {
        "ja": "APIキーが無効です（未指定・誤り・失効済み）。",
        "en": "The API key is missing, wrong or revoked.",
    },
    "api.error.ip_not_allowed": {
        "ja": "このAPIキーは接続元のIPアドレスからは使えません（許可リスト外）。",
        "en": "This API key may not be used from your IP address (not in its allowlist).",
    },
    "api.error.allowlist_required": {
        "ja": "この組織ではIP許可リストのないAPIキーは使えません。",
        "en": "Your organisation requires an IP allowlist on every API key.",
    },
    "api.error.insufficient_scope": {
        "ja": "このAPIキーには必要な権限（{scope}）がありません。",
        "en": "This API key lacks the required scope ({scope}).",
    },
    "api.error.rate_limited": {
        "ja": "リクエストが多すぎます。{retry_after}秒後に再試行してください。",
        "en": "Too many requests. Retry in {retry_after} seconds.",
    },
    "api.error.invalid_request": {
        "ja": "リクエストの内容が正しくありません。details を確認してください。",
        "en": "The request is not valid. See details.",
    },
    "api.error.not_found": {
        "ja": "指定されたリソースは見つかりません。",
        "en": "The resource was not found.",
    },
    "api.error.method_not_allowed": {
        "ja": "このメソッドは使えません。",
        "en": "This method is not allowed here.",
    },
    "api.error.idempotency_key_required": {
        "ja": "POST には Idempotency-Key ヘッダー（1〜255文字）が必要です。",
        "en": "Every POST needs an Idempotency-Key header (1 to 255 characters).",
    },
    "api.error.idempotency_key_invalid": {
        "ja": "Idempotency-Key は1〜255文字にしてください。",
        "en": "The Idempotency-Key must be 1 to 255 characters long.",
    },
    "api.error.idempotency_key_reused": {
        "ja": "この Idempotency-Key は別の内容のリクエストで使用済みです。",
        "en": "This Idempotency-Key was already used with a different request.",
    },
    "api.error.idempotency_in_progress": {
        "ja": "同じ Idempotency-Key のリクエストを処理中です。少し待って再試行してください。",
        "en": "A request with this Idempotency-Key is still being processed. Retry shortly.",
    },
    "api.error.campaign_invalid": {
        "ja": "キャンペーンの内容に誤りがあります。details を確認してください。",
        "en": "The campaign has errors. See details.",
    },
    "api.error.recipients_rejected": {
        "ja": "宛先を登録できませんでした。details を確認してください。",
        "en": "The recipient could not be added. See details.",
    },
    "api.error.conflict": {
        "ja": "現在の状態ではこの操作はできません: {reason}",
        "en": "This cannot be done in the current state: {reason}",
    },
    "api.error.internal_error": {
        "ja": "サーバー内部でエラーが発生しました。時間をおいて再試行してください。",
        "en": "Internal error. Please retry later.",
    },
}
