"""Messages of campaign authoring: phone numbers, templates and SMS size,
identity answers, CSV files and recipient imports."""

MESSAGES = {
    # --- phone numbers ---
    "phone.empty": {"ja": "電話番号が空です。", "en": "The phone number is empty."},
    "phone.invalid": {
        "ja": "電話番号として読み取れません。",
        "en": "This is not a valid phone number.",
    },
    "phone.too_short": {"ja": "電話番号の桁数が足りません。", "en": "The phone number is too short."},
    "phone.too_long": {"ja": "電話番号の桁数が多すぎます。", "en": "The phone number is too long."},
    "phone.landline": {
        "ja": "固定電話の番号にはSMSを送れません（携帯電話の番号が必要です）。",
        "en": "Landline numbers cannot receive SMS (a mobile number is needed).",
    },
    "phone.free_dial": {
        "ja": "フリーダイヤル（0120・0800など）にはSMSを送れません。",
        "en": "Toll-free numbers (0120, 0800...) cannot receive SMS.",
    },
    "phone.not_mobile": {
        "ja": "この種類の番号（IP電話・ナビダイヤルなど）にはSMSを送れません。",
        "en": "This kind of number (IP phone, shared-cost...) cannot receive SMS.",
    },
    "phone.foreign_not_allowed": {
        "ja": "海外の電話番号への送信は許可されていません。",
        "en": "Numbers outside your country are not allowed for this organisation.",
    },
    # --- templates and SMS size ---
    "template.unknown_field": {
        "ja": "差し込み項目「{field}」に対応する列がありません。",
        "en": "The merge field “{field}” matches no column.",
    },
    "template.missing_value": {
        "ja": "差し込み項目「{field}」の値が空です。",
        "en": "The merge field “{field}” has no value.",
    },
    "template.too_many_fields": {
        "ja": "差し込み項目は1つのテンプレートに10個までです。",
        "en": "A template can use at most 10 merge fields.",
    },
    "template.unbalanced": {
        "ja": "差し込み項目の括弧 {{ }} が閉じていません。",
        "en": "A merge field's braces {{ }} are not closed.",
    },
    "template.link_added": {
        "ja": "リンク {{link}} が無かったため末尾に追加しました。",
        "en": "The link placeholder {{link}} was missing and has been added at the end.",
    },
    "template.encoding_gsm": {
        "ja": "半角英数字のみ：1通160文字、分割時153文字ずつ。",
        "en": "Plain letters and digits only: 160 per message, 153 per part when split.",
    },
    "template.encoding_ucs2": {
        "ja": "全角文字を含む：1通70文字、分割時67文字ずつ。",
        "en": "Contains Japanese (2-byte) characters: 70 per message, 67 per part when split.",
    },
    "template.ucs2_chars": {
        "ja": "全角として送られる文字：{chars}",
        "en": "Characters sent as Japanese (2-byte) text: {chars}",
    },
    "template.size": {
        "ja": "{chars}文字・{segments}通分（最長の宛先）",
        "en": "{chars} characters, {segments} SMS (longest recipient)",
    },
    "template.over_cap": {
        "ja": "{cap}文字を超えています。携帯会社の上限のため送信できません。",
        "en": "Longer than {cap} characters: carriers will not deliver it.",
    },
    "template.cost": {
        "ja": "概算費用：{segments}通分 × {price}円 = {cost}円",
        "en": "Estimated cost: {segments} segments × ¥{price} = ¥{cost}",
    },
    # --- identity answers ---
    "answer.missing": {
        "ja": "本人確認の答え（{column}）が空です。",
        "en": "The identity answer ({column}) is empty.",
    },
    "answer.invalid_date": {
        "ja": "本人確認の答え（{column}）を日付として読み取れません。",
        "en": "The identity answer ({column}) is not a readable date.",
    },
    "answer.invalid_digits": {
        "ja": "本人確認の答え（{column}）は数字のみで入力してください。",
        "en": "The identity answer ({column}) must contain digits only.",
    },
    "answer.invalid": {
        "ja": "本人確認の答え（{column}）を読み取れません。",
        "en": "The identity answer ({column}) cannot be read.",
    },
    # --- CSV files ---
    "csv.too_many_columns": {
        "ja": "列が多すぎます（{row}行目）。1つのファイルは{max_columns}列までです。不要な列を削除してください。",
        "en": "Too many columns (line {row}). A file may have at most {max_columns} columns; remove the ones not needed.",
    },
    "csv.cell_too_long": {
        "ja": "{row}行目に長すぎる値があります。1つのセルは{max_chars}文字までです。",
        "en": "Line {row} has a value that is too long. A cell may hold at most {max_chars} characters.",
    },
    "csv.not_csv": {
        "ja": "CSV ファイルとして読み取れません（Excel形式の場合は「CSV UTF-8」で保存してください）。",
        "en": "This is not a CSV file (from Excel, save as “CSV UTF-8”).",
    },
    "csv.empty": {"ja": "ファイルにデータがありません。", "en": "The file contains no data."},
    "csv.too_large": {
        "ja": "ファイルが大きすぎます（上限 {max_mb}MB）。分割してアップロードしてください。",
        "en": "The file is too large (limit {max_mb} MB). Please split it.",
    },
    "csv.too_many_rows": {
        "ja": "行数が多すぎます（上限 {max_rows} 行）。分割してアップロードしてください。",
        "en": "Too many rows (limit {max_rows}). Please split the file.",
    },
    "csv.no_phone_column": {
        "ja": "電話番号の列が見つかりません。列の割り当てで電話番号の列を選んでください。",
        "en": "No phone number column found. Choose the phone column in the mapping.",
    },
    "csv.encoding": {
        "ja": "文字コードを判別できません（UTF-8 または Shift_JIS で保存してください）。",
        "en": "Unknown text encoding (save the file as UTF-8 or Shift_JIS).",
    },
    "csv.unknown_column": {
        "ja": "列「{column}」がファイルにありません。",
        "en": "The column “{column}” is not in the file.",
    },
    # --- imports ---
    "import.duplicate_in_file": {
        "ja": "同じ電話番号が {first_row} 行目にもあります（重複のため取り込みません）。",
        "en": "Same phone number as row {first_row} (duplicate, skipped).",
    },
    "import.duplicate_in_campaign": {
        "ja": "この電話番号はこのキャンペーンに登録済みです（取り込みません）。",
        "en": "This phone number is already in the campaign (skipped).",
    },
    "import.opted_out": {
        "ja": "配信停止の申し出がある番号です（送信しません）。",
        "en": "This number has opted out (not sent).",
    },
    "import.amount_missing": {
        "ja": "金額がありません（キャンペーンの金額がないため、金額の列で指定してください）。",
        "en": "No amount (the campaign has none: give it in the amount column).",
    },
    "import.invalid_lines": {
        "ja": "明細を読み取れません（例: 基本料金:10000; 従量料金:1170x2）。",
        "en": "The invoice lines cannot be read (e.g. Base fee:10000; Usage:1170x2).",
    },
    "import.lines_total": {
        "ja": "明細の合計{total}が金額{amount}と一致しません。",
        "en": "The invoice lines total {total}, not the amount {amount}.",
    },
    "import.invalid_amount": {
        "ja": "金額を読み取れません（0以上の整数の円で入力してください）。",
        "en": "The amount cannot be read (whole yen, 0 or more).",
    },
    "import.rejected_value": {"ja": "（入力値:「{value}」）", "en": " (given: “{value}”)"},
    "import.invalid_date": {
        "ja": "日付を読み取れません。",
        "en": "The date cannot be read.",
    },
    "import.missing_value": {
        "ja": "SMS本文の差し込み項目「{field}」の値が空です。",
        "en": "The SMS merge field “{field}” has no value.",
    },
    "import.summary": {
        "ja": "{imported} 件を取り込みました。エラー {rejected} 件、重複 {duplicates} 件、配信停止 {opted_out} 件は取り込んでいません。",
        "en": "Imported {imported} recipients. Skipped {rejected} with errors, {duplicates} duplicates and {opted_out} opted-out numbers.",
    },
    "import.rule": {
        "ja": "正しい行だけを取り込み、エラー・重複・配信停止の行は取り込まずに一覧にします。ファイル全体が読めない場合は何も取り込みません。",
        "en": "Valid rows are imported; rows with errors, duplicates and opted-out numbers are skipped and listed. If the file as a whole cannot be read, nothing is imported.",
    },
    "import.failed": {
        "ja": "取り込みに失敗しました。何も取り込まれていません。{reason}",
        "en": "The import failed; nothing was imported. {reason}",
    },
    "import.errors_header_row": {"ja": "行", "en": "Row"},
    "import.errors_header_column": {"ja": "列", "en": "Column"},
    "import.errors_header_reason": {"ja": "理由", "en": "Reason"},
}
