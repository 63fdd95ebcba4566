MESSAGES = {
    "app.name": {"ja": "smspay", "en": "smspay"},
    "error.generic": {
        "ja": "処理できませんでした。時間をおいてもう一度お試しください。",
        "en": "Something went wrong. Please try again in a moment.",
    },
}
