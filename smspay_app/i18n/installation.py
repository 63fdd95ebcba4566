"""The installation owner, first set-up, organisations' lifecycle and usage (issue 19)."""

MESSAGES = {
    # first start
    "setup.title": {"ja": "管理者アカウントの作成", "en": "Create the owner account"},
    "setup.help": {
        "ja": "このインストールの管理者（オーナー）として、ご自身のアカウントを作成します。このリンクは一度だけ使えます。",
        "en": "Create your own account as the owner of this installation. This link works once.",
    },
    "setup.display_name": {"ja": "表示名", "en": "Display name"},
    "setup.password_again": {"ja": "パスワード（確認）", "en": "Password again"},
    "setup.submit": {"ja": "アカウントを作成", "en": "Create account"},
    "setup.error.link": {
        "ja": "このセットアップリンクは使用済みか期限切れです。`python -m smspay_app.admin setup` で新しいリンクを発行してください。",
        "en": "This set-up link was used or has expired. Run `python -m smspay_app.admin setup` for a new one.",
    },
    "setup.error.done": {
        "ja": "すでにユーザーが存在するため、セットアップは完了しています。",
        "en": "Set-up is done: users already exist.",
    },
    "setup.error.password_mismatch": {"ja": "パスワードが一致しません。", "en": "The passwords do not match."},
    "setup.totp.title": {"ja": "2段階認証を設定しましょう", "en": "Turn on two-factor sign-in now"},
    "setup.totp.help": {
        "ja": "認証アプリでQRコードを読み取り、表示された6桁のコードを入力してください。",
        "en": "Scan the QR code with an authenticator app and enter the 6-digit code it shows.",
    },
    "setup.totp.later": {"ja": "あとで設定する", "en": "Later"},
    # the owner's page
    "admin.nav.installation": {"ja": "組織の管理", "en": "Organisations"},
    "admin.nav.usage": {"ja": "利用量", "en": "Usage"},
    "owner.title": {"ja": "組織の管理", "en": "Organisations"},
    "owner.create.title": {"ja": "組織を作成", "en": "Create an organisation"},
    "owner.create.submit": {"ja": "作成", "en": "Create"},
    "owner.cap": {"ja": "月間SMS上限", "en": "Monthly SMS cap"},
    "owner.cap.help": {
        "ja": "月間SMS上限（0で上限なし）。上限に達すると送信中のキャンペーンは一時停止します。",
        "en": "Monthly SMS cap (0: none). Sending campaigns pause when it is reached.",
    },
    "owner.cap_save": {"ja": "上限を保存", "en": "Save cap"},
    "owner.cap_saved": {"ja": "月間SMS上限を保存しました。", "en": "Monthly SMS cap saved."},
    "owner.col.status": {"ja": "状態", "en": "Status"},
    "owner.col.admins": {"ja": "管理者", "en": "Admins"},
    "owner.col.month": {"ja": "今月のSMS / セグメント", "en": "SMS / segments this month"},
    "owner.status.active": {"ja": "利用中", "en": "Active"},
    "owner.status.suspended": {"ja": "停止中", "en": "Suspended"},
    "owner.status.deleted": {"ja": "削除済み", "en": "Deleted"},
    "owner.suspend": {"ja": "停止", "en": "Suspend"},
    "owner.reactivate": {"ja": "再開", "en": "Reactivate"},
    "owner.usage": {"ja": "利用量", "en": "Usage"},
    "owner.invite.title": {"ja": "組織の管理者を招待", "en": "Invite an organisation's admin"},
    "owner.invite.help": {
        "ja": "仮パスワードが一度だけ表示されます。ログインURLと一緒にお伝えください。初回ログイン時に変更が必要です。",
        "en": "A temporary password is shown once: hand it over with the sign-in link. It must be changed at the first sign-in.",
    },
    "owner.invite.submit": {"ja": "招待", "en": "Invite"},
    "owner.invited": {
        "ja": "{email} を招待しました。ログイン: {link} 仮パスワード: {password}（この画面でのみ表示）",
        "en": "{email} invited. Sign in at {link} with the temporary password {password} (shown only now).",
    },
    "owner.created": {"ja": "組織「{name}」を作成しました。", "en": "Organisation “{name}” created."},
    "owner.suspended": {
        "ja": "組織を停止しました。送信は止まります。",
        "en": "Organisation suspended: nothing is sent.",
    },
    "owner.suspended_banner": {
        "ja": "停止中: SMSは送信されません",
        "en": "Suspended: no SMS is sent",
    },
    "owner.reactivated": {"ja": "組織を再開しました。", "en": "Organisation reactivated."},
    "owner.manage.title": {"ja": "上限と削除", "en": "Cap and deletion"},
    "owner.delete.help": {
        "ja": "削除すると宛先の個人情報は消去されます（監査記録と利用量は残ります）。確認のため組織名を入力してください。",
        "en": "Deleting erases recipients' personal data (audit and usage are kept). Type the organisation's name to confirm.",
    },
    "owner.delete.confirm": {"ja": "組織名（確認）", "en": "Organisation name (to confirm)"},
    "owner.delete.reason": {"ja": "理由", "en": "Reason"},
    "owner.delete.submit": {"ja": "削除", "en": "Delete"},
    "owner.deleted": {"ja": "組織を削除しました。", "en": "Organisation deleted."},
    "owner.error.not_found": {"ja": "組織が見つかりません。", "en": "Organisation not found."},
    "owner.error.confirm_name": {"ja": "組織名が一致しません。", "en": "The name does not match the organisation's."},
    "owner.error.reason_required": {"ja": "理由を入力してください。", "en": "Please give a reason."},
    "owner.error.cap": {"ja": "0以上の整数を入力してください。", "en": "Enter a whole number, 0 or more."},
    # self-service sign-up
    "signup.title": {"ja": "利用申し込み", "en": "Apply for an account"},
    "signup.help": {
        "ja": "審査のうえ、運営者からログイン方法をお知らせします。",
        "en": "After a review, the operator tells you how to sign in.",
    },
    "signup.business_name": {"ja": "事業者名", "en": "Business name"},
    "signup.contact_name": {"ja": "ご担当者名", "en": "Contact name"},
    "signup.phone": {"ja": "電話番号", "en": "Phone"},
    "signup.note": {"ja": "ご利用目的など", "en": "What you will use it for"},
    "signup.submit": {"ja": "申し込む", "en": "Apply"},
    "signup.received": {
        "ja": "お申し込みを受け付けました。審査の結果は運営者からご連絡します。",
        "en": "Application received. The operator will tell you the outcome.",
    },
    "signup.error.closed": {"ja": "現在、利用申し込みは受け付けていません。", "en": "Sign-up is not open."},
    "signup.error.pending": {
        "ja": "このメールアドレスのお申し込みは審査中です。",
        "en": "An application for this e-mail address is already under review.",
    },
    "signup.error.busy": {
        "ja": "ただいま申し込みが混み合っています。後ほどお試しください。",
        "en": "Too many applications right now; please try later.",
    },
    "signup.error.note_long": {"ja": "1000文字以内で入力してください。", "en": "At most 1000 characters."},
    "signup.error.not_pending": {
        "ja": "この申し込みはすでに処理済みです。",
        "en": "This application was already decided.",
    },
    "owner.applications.title": {"ja": "利用申し込み（審査待ち）", "en": "Applications awaiting review"},
    "owner.applications.approve": {"ja": "承認", "en": "Approve"},
    "owner.applications.reject": {"ja": "却下", "en": "Reject"},
    "owner.applications.approved": {
        "ja": "承認して「{name}」を作成しました。申込者に伝えてください — ログイン: {link} メール: {email} 仮パスワード: {password}（この画面でのみ表示）",
        "en": "Approved: “{name}” created. Forward to the applicant — sign in at {link}, e-mail {email}, temporary password {password} (shown only now).",
    },
    "owner.applications.rejected": {"ja": "申し込みを却下しました。", "en": "Application rejected."},
    # usage
    "usage.title": {"ja": "利用量", "en": "Usage"},
    "usage.messages": {"ja": "SMS通数", "en": "SMS sent"},
    "usage.segments": {"ja": "セグメント数", "en": "Segments"},
    "usage.provider": {"ja": "SMS事業者", "en": "Provider"},
    "usage.campaign": {"ja": "キャンペーン", "en": "Campaign"},
    "usage.by_provider": {"ja": "SMS事業者別", "en": "By provider"},
    "usage.by_campaign": {"ja": "キャンペーン別", "en": "By campaign"},
    "usage.export": {"ja": "CSVダウンロード", "en": "Download CSV"},
    # the dispatcher, recipient pages, API
    "sending.paused.usage_cap": {
        "ja": "今月のSMS上限に達したため送信を一時停止しました。上限の変更は運営者にご連絡ください。",
        "en": "Sending paused: this month's SMS cap is reached. Contact the operator to change the cap.",
    },
    "recipient.suspended_title": {"ja": "現在ご利用いただけません", "en": "This page is not available"},
    "recipient.suspended_body": {
        "ja": "このページは現在ご利用いただけません。お手数ですが下記までお問い合わせください。",
        "en": "This page is not available at the moment. Please contact us below.",
    },
    "api.error.organisation_suspended": {
        "ja": "この組織は停止中のため、APIは利用できません。",
        "en": "This organisation is suspended: the API is not available.",
    },
}
