MESSAGES = {
    "app.name": {"ja": "smspay", "en": "smspay"},
    # What every date/time field names under it (domain.formatting owns the
    # format: Japanese order and 24-hour in both languages).
    "input.format.date": {"ja": "年/月/日（例 2026/12/10）", "en": "YYYY/MM/DD (e.g. 2026/12/10)"},
    "input.format.datetime": {
        "ja": "年/月/日 時:分、24時間制（例 2026/12/10 18:00）",
        "en": "YYYY/MM/DD HH:MM, 24-hour (e.g. 2026/12/10 18:00)",
    },
    "input.format.time": {"ja": "時:分、24時間制", "en": "HH:MM, 24-hour"},
    "error.generic": {
        "ja": "処理できませんでした。時間をおいてもう一度お試しください。",
        "en": "Something went wrong. Please try again in a moment.",
    },
}
