package web

// The texts of the import page (importpage.go), merged into messages.
var importMessages = map[string]map[string]string{
	"en": {
		"import_link":              "Import mail from another provider (QQ, 163, Gmail…)",
		"import_back":              "← Back to settings",
		"import_heading":           "Import mail from another provider",
		"import_intro":             "Copy every folder of your old mailbox here. Switch on IMAP in the old mailbox's settings and create an app password there (QQ and 163 call it 授权码). The import runs in the background: you may close this page; a message tells you when it is done. Running it again copies only what is new.",
		"import_status":            "Import:",
		"import_state_running":     "running…",
		"import_state_done":        "complete",
		"import_state_failed":      "stopped with an error",
		"import_read":              "read",
		"import_imported":          "imported",
		"import_dups":              "already here",
		"import_remote":            "Old address",
		"import_provider":          "Provider",
		"import_provider_auto":     "(from the address, or enter the server)",
		"import_host":              "IMAP server",
		"import_port":              "Port",
		"import_security":          "Security",
		"import_security_tls":      "SSL/TLS (port 993)",
		"import_security_starttls": "STARTTLS (port 143)",
		"import_password":          "App password (授权码)",
		"import_password_hint":     "Used for this import only and not kept after it.",
		"import_start":             "Start import",
		"import_col_provider":      "Servers of the usual providers",
		"notice_import_started":    "The import has started.",
		"err_import_form":          "Give the old address, its server and the app password",
		"err_import_running":       "An import into your mailbox is already running",
	},
	"zh": {
		"import_link":              "从其他邮箱搬家（QQ、163、Gmail 等）",
		"import_back":              "← 返回设置",
		"import_heading":           "邮箱搬家",
		"import_intro":             "把旧邮箱的所有文件夹复制到这里。请先在旧邮箱的设置中开启 IMAP 并生成授权码（应用专用密码）。导入在后台进行：您可以关闭此页面，完成后会收到通知邮件。再次运行只会复制新邮件。",
		"import_status":            "导入：",
		"import_state_running":     "进行中…",
		"import_state_done":        "已完成",
		"import_state_failed":      "出错停止",
		"import_read":              "已读取",
		"import_imported":          "已导入",
		"import_dups":              "已存在",
		"import_remote":            "旧邮箱地址",
		"import_provider":          "邮箱服务商",
		"import_provider_auto":     "（按地址自动选择，或填写服务器）",
		"import_host":              "IMAP 服务器",
		"import_port":              "端口",
		"import_security":          "加密方式",
		"import_security_tls":      "SSL/TLS（端口 993）",
		"import_security_starttls": "STARTTLS（端口 143）",
		"import_password":          "授权码",
		"import_password_hint":     "仅用于本次导入，导入结束后不会保存。",
		"import_start":             "开始导入",
		"import_col_provider":      "常见邮箱的服务器",
		"notice_import_started":    "导入已开始。",
		"err_import_form":          "请填写旧邮箱地址、服务器和授权码",
		"err_import_running":       "您的邮箱已有一个导入正在进行",
	},
}

// importPages is the import page per language.
var importPages = parsePages("import")["import"]

func init() {
	for lang, msgs := range importMessages {
		for k, v := range msgs {
			messages[lang][k] = v
		}
	}
}
